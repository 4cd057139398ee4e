//! The one wasmtime `Engine`: async + component-model async (WASI p3),
//! pooling allocator sized from the replica settings, epoch interruption for
//! per-request deadlines, and an on-disk cache of compiled components.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What sizes the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Live instances the pool must hold at once (all components, all
    /// replicas, plus room for swaps and recycling).
    pub max_instances: u32,
    /// Linear-memory limit of one instance.
    pub max_instance_memory: usize,
    /// Write `/tmp/perf-<pid>.map` so that `perf` names guest functions.
    pub perf_map: bool,
}

/// Builds the engine, caching compiled artifacts under `cache_dir`.
pub fn build(settings: &EngineSettings, cache_dir: &Path) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    if settings.perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }

    let mut pooling = PoolingAllocationConfig::default();
    let instances = settings.max_instances.max(1);
    pooling
        .total_component_instances(instances)
        // A spin-sdk component is a handful of core instances (the guest,
        // the WASI adapter shims) and memories.
        .total_core_instances(instances * 16)
        .total_memories(instances * 4)
        .total_tables(instances * 8)
        .total_stacks(instances * 4)
        .max_memory_size(settings.max_instance_memory)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_core_instances_per_component(32);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));

    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("failed to create {}", cache_dir.display()))?;
    let mut cache = CacheConfig::new();
    cache.with_directory(std::path::absolute(cache_dir)?);
    config.cache(Some(
        Cache::new(cache)
            .map_err(anyhow::Error::from)
            .context("failed to open the compilation cache")?,
    ));

    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("failed to build the wasmtime engine")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is
/// dropped by everyone else.
pub fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("comptoir-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
