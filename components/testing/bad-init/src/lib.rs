//! A component that cannot be instantiated: its (zeroed) static data needs 96 MiB of
//! linear memory from the start, beyond comptoir's per-instance limit
//! (64 MiB by default), so instantiating it fails. comptoir must refuse to
//! deploy it. Never routed by the real `spin.toml`.

use spin_sdk::http::{Request, StatusCode};
use spin_sdk::http_service;

// `static mut` so that it lands in .bss: no 96 MiB data segment in the file.
static mut BALLAST: [u8; 96 << 20] = [0; 96 << 20];

#[http_service]
async fn handle(_req: Request) -> (StatusCode, String) {
    // SAFETY: read-only access to a plain byte array; nothing writes it.
    let sample = unsafe { std::hint::black_box(&*std::ptr::addr_of!(BALLAST))[12345] };
    (StatusCode::OK, sample.to_string())
}
