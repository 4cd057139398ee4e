//! The decisions of placing an order, as plain data in and out: whether a
//! request creates an order, replays one (its `Idempotency-Key` was used
//! before) or is refused, what the catalogue's answer to the order's stock
//! reservation makes of it, and what the cart-clear outbox does with
//! panier's answer. The adapter (`lib.rs`) runs the statements and calls;
//! nothing here does I/O.

use comptoir_kit::Problem;
use comptoir_kit::product::{Current, Outcome, Reservation, ReserveBody, ReservedLine};
use serde_json::json;
use spin_sdk::http::StatusCode;
use uuid::Uuid;

use crate::domain::{self, Order, OrderStatus};

/// Outbox rows of other orders retried per placement, besides its own.
pub const CLEARS_PER_REQUEST: i64 = 5;

/// The order already placed with the request's `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct Prior {
    pub order: Order,
    /// Whether its cart clear is still queued in the outbox.
    pub clear_pending: bool,
}

/// What a placement found, each case with what it had to read.
#[derive(Debug)]
pub enum Found {
    /// The cart makes no order (`problem`: unknown or deleted client, empty
    /// cart, panier down); `prior` is the key's order, if any: a replay
    /// whose cart that order emptied or whose client is gone since.
    NoDraft {
        problem: Problem,
        prior: Option<Prior>,
    },
    /// This request's statement stored the order.
    Inserted(Order),
    /// The statement found the key taken (a concurrent or earlier
    /// placement) and wrote nothing; `prior` is the key's order, if it
    /// could be read.
    KeyTaken { prior: Option<Prior> },
}

/// Work a dead or unanswered placement left, which a placement takes up
/// after its own (the statement validating its order returns it): pending
/// orders to settle, and stock releases to retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stale {
    pub pending: Vec<Uuid>,
    pub releases: Vec<Uuid>,
}

/// What the request answers.
#[derive(Debug)]
pub enum Decision {
    /// 201 with `order`, once `clear` (if any) has been tried.
    Answer { order: Order, clear: Option<Clear> },
    /// `order` is pending: reserve its stock ([`settle`]), then answer.
    Settle(Order),
    /// This problem; nothing is written.
    Refuse(Problem),
}

/// The answer to a placement by `client`, asked by a caller of `scope`
/// (`None`: staff; `Some(owner)`: a customer), that found `found`.
///
/// A new order is pending: its stock is reserved before it answers. A
/// replay answers the same order with the same 201 (settling it first if
/// it is still pending), clearing its cart only if that is still queued,
/// and only for the client who placed it and a caller who reaches it;
/// without an order under the key, the problem that stopped this request
/// is the answer.
pub fn decide(client: Uuid, scope: Option<Uuid>, found: Found) -> Decision {
    match found {
        Found::Inserted(order) => Decision::Settle(order),
        Found::NoDraft { problem, prior } => replay(client, scope, prior, problem),
        Found::KeyTaken { prior } => replay(
            client,
            scope,
            prior,
            Problem::internal("a concurrent order vanished"),
        ),
    }
}

fn replay(client: Uuid, scope: Option<Uuid>, prior: Option<Prior>, otherwise: Problem) -> Decision {
    let Some(Prior {
        order,
        clear_pending,
    }) = prior
    else {
        return Decision::Refuse(otherwise);
    };
    let reachable = scope.is_none_or(|owner| order.owner_id == Some(owner));
    if order.client_id != client || !reachable {
        return Decision::Refuse(Problem::rule(
            "idempotency-key-reused",
            "this Idempotency-Key was used for another client's order",
        ));
    }
    if order.status == OrderStatus::Pending {
        return Decision::Settle(order);
    }
    Decision::Answer {
        clear: clear_pending.then(|| Clear::of(&order, 0)),
        order,
    }
}

/// The reservation of `order`'s lines at the prices its customer was shown.
pub fn reservation(order: &Order) -> ReserveBody {
    ReserveBody {
        lines: order
            .lines
            .iter()
            .map(|l| ReservedLine {
                sku: l.product_id.clone(),
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
            })
            .collect(),
    }
}

/// What a pending order becomes once the catalogue answered its
/// reservation (or did not).
#[derive(Debug)]
pub enum Settlement {
    /// Its stock is held (now, or by an earlier attempt): validate it and
    /// clear its cart.
    Validate,
    /// Refused: delete the order, give back whatever it may hold (a
    /// concurrent attempt may have reserved meanwhile), answer `problem`;
    /// `reprice` are the lines whose price changed, to show in the cart.
    Refuse {
        problem: Problem,
        reprice: Vec<Current>,
    },
    /// No answer: the order stays pending (a replay of its key, or a later
    /// placement, settles it) and the request gets a 503.
    Unknown(Problem),
}

/// The settlement of a pending order given the catalogue's answer (`None`:
/// no answer).
pub fn settle(answer: Option<Reservation>) -> Settlement {
    let Some(answer) = answer else {
        return Settlement::Unknown(Problem::unavailable(
            "the catalogue did not answer: the order is pending; \
             send the same request again (same Idempotency-Key) to complete it",
        ));
    };
    let refuse = |problem| Settlement::Refuse {
        problem,
        reprice: Vec::new(),
    };
    match answer.outcome {
        Outcome::Reserved | Outcome::Held => Settlement::Validate,
        Outcome::PriceChanged => {
            let changed: Vec<String> = answer
                .lines
                .iter()
                .map(|l| format!("{} now {} cents", l.sku, l.price_cents.unwrap_or_default()))
                .collect();
            Settlement::Refuse {
                problem: Problem::conflict_with(
                    "price-changed",
                    format!(
                        "prices changed since they were added to the cart ({}); the cart \
                         shows the new prices: order again to accept them",
                        changed.join(", ")
                    ),
                ),
                reprice: answer.lines,
            }
        }
        Outcome::OutOfStock => {
            let short: Vec<String> = answer
                .lines
                .iter()
                .map(|l| match l.price_cents {
                    Some(_) => format!("{} ({} left)", l.sku, l.stock),
                    None => format!("{} (not sold)", l.sku),
                })
                .collect();
            refuse(Problem::conflict_with(
                "out-of-stock",
                format!("not enough stock for {}", short.join(", ")),
            ))
        }
        Outcome::Released | Outcome::Void | Outcome::Already => refuse(given_up()),
    }
}

/// A placement whose pending order was settled away (its reservation
/// released) while it waited: the customer orders again.
pub fn given_up() -> Problem {
    Problem::conflict("this placement was given up while it waited for its stock: order again")
}

/// One order's cart clear: panier's checkout of what the order took, which
/// panier applies once per order, so an item added to the cart since the
/// order read it stays there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clear {
    pub order: Uuid,
    pub client: Uuid,
    /// SKU and quantity of each line the order took, in order.
    pub lines: Vec<(String, i32)>,
    /// How many other orders' stale clears to take up once this one is
    /// confirmed (the statement deleting its outbox row returns them).
    pub others: i64,
}

impl Clear {
    /// The clear of `order`'s cart.
    pub fn of(order: &Order, others: i64) -> Self {
        Self {
            order: order.id,
            client: order.client_id,
            lines: domain::ordered_lines(&order.lines),
            others,
        }
    }

    /// The panier path of the checkout.
    pub fn path(&self) -> String {
        format!("/panier/{}/checkout", self.client)
    }

    /// The checkout's body: `{order_id, lines: [{product_id, quantity}]}`.
    pub fn body(&self) -> serde_json::Value {
        let lines: Vec<_> = self
            .lines
            .iter()
            .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
            .collect();
        json!({"order_id": self.order, "lines": lines})
    }
}

/// What the outbox does with a clear once panier answered (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// Confirmed: the row goes, and up to `others` stale clears of other
    /// orders come back to be retried.
    Done { others: i64 },
    /// Not confirmed: the row stays, one attempt more, for a later
    /// placement or a replay to retry.
    Keep,
}

/// The outbox step for `clear` given panier's answer (`None`: no answer).
/// A 204 confirms; so does a 404, a client whose cart is gone (nothing left
/// to take off).
pub fn after_checkout(clear: &Clear, answer: Option<StatusCode>) -> Outbox {
    match answer {
        Some(StatusCode::NO_CONTENT | StatusCode::NOT_FOUND) => Outbox::Done {
            others: clear.others,
        },
        _ => Outbox::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderLine, OrderStatus};

    fn order(client: Uuid) -> Order {
        Order {
            id: Uuid::from_u128(7),
            client_id: client,
            status: OrderStatus::Validated,
            lines: vec![OrderLine {
                product_id: "CAFE-250".into(),
                name: "Café".into(),
                unit_price_cents: 1250,
                quantity: 2,
                line_total_cents: 2500,
            }],
            total_cents: 2500,
            currency: "EUR".into(),
            owner_id: None,
            created_at: "2026-12-01T09:00:00.000000Z".into(),
            cancelled_at: None,
        }
    }

    const ADA: Uuid = Uuid::from_u128(1);
    const BOB: Uuid = Uuid::from_u128(2);

    fn prior(client: Uuid, clear_pending: bool) -> Option<Prior> {
        Some(Prior {
            order: order(client),
            clear_pending,
        })
    }

    fn answered(decision: Decision) -> (Order, Option<Clear>) {
        match decision {
            Decision::Answer { order, clear } => (order, clear),
            other => panic!("not answered: {other:?}"),
        }
    }

    fn refused(decision: Decision) -> Problem {
        match decision {
            Decision::Refuse(problem) => problem,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// A new order is pending until its stock is reserved.
    #[test]
    fn a_new_order_waits_for_its_stock() {
        let mut pending = order(ADA);
        pending.status = OrderStatus::Pending;
        match decide(ADA, None, Found::Inserted(pending)) {
            Decision::Settle(order) => assert_eq!(order.id, Uuid::from_u128(7)),
            other => panic!("{other:?}"),
        }
    }

    /// A replay of a placement left pending (a crash, an unanswered
    /// reservation) settles it; only the caller who reaches it may.
    #[test]
    fn a_replay_settles_a_pending_order() {
        let mut pending = prior(ADA, false);
        pending.as_mut().unwrap().order.status = OrderStatus::Pending;
        let found = Found::KeyTaken {
            prior: pending.clone(),
        };
        assert!(matches!(decide(ADA, None, found), Decision::Settle(_)));
        let found = Found::KeyTaken { prior: pending };
        assert!(matches!(decide(BOB, None, found), Decision::Refuse(_)));
    }

    fn answer(outcome: Outcome, lines: Vec<Current>) -> Option<Reservation> {
        Some(Reservation {
            order_id: Uuid::from_u128(7),
            outcome,
            lines,
        })
    }

    fn current(sku: &str, price_cents: Option<i64>, stock: i32) -> Current {
        Current {
            sku: sku.into(),
            name: price_cents.map(|_| "Café".into()),
            price_cents,
            stock,
        }
    }

    /// Held stock (now or before) validates; a price change or a shortage
    /// refuses, naming the SKUs; a given-up reservation refuses; no answer
    /// leaves the order pending.
    #[test]
    fn the_catalogue_answer_settles_the_order() {
        for outcome in [Outcome::Reserved, Outcome::Held] {
            assert!(matches!(
                settle(answer(outcome, vec![])),
                Settlement::Validate
            ));
        }
        let Settlement::Refuse { problem, reprice } = settle(answer(
            Outcome::PriceChanged,
            vec![current("CAFE-250", Some(1300), 4)],
        )) else {
            panic!("not refused");
        };
        assert_eq!(problem.status, 409);
        assert!(problem.kind.ends_with("/price-changed"));
        assert!(problem.detail.contains("CAFE-250"));
        assert_eq!(reprice.len(), 1);
        let Settlement::Refuse { problem, reprice } = settle(answer(
            Outcome::OutOfStock,
            vec![
                current("CAFE-250", Some(1250), 1),
                current("GONE-1", None, 0),
            ],
        )) else {
            panic!("not refused");
        };
        assert!(problem.kind.ends_with("/out-of-stock"));
        assert!(problem.detail.contains("CAFE-250 (1 left)"));
        assert!(problem.detail.contains("GONE-1 (not sold)"));
        assert!(reprice.is_empty());
        for outcome in [Outcome::Released, Outcome::Void, Outcome::Already] {
            assert!(matches!(
                settle(answer(outcome, vec![])),
                Settlement::Refuse { .. }
            ));
        }
        let Settlement::Unknown(problem) = settle(None) else {
            panic!("settled without an answer");
        };
        assert_eq!(problem.status, 503);
    }

    /// The reservation asks for every line at the price the customer saw.
    #[test]
    fn the_reservation_names_every_line_at_its_price() {
        let body = reservation(&order(ADA));
        assert_eq!(
            body.lines,
            [ReservedLine {
                sku: "CAFE-250".into(),
                quantity: 2,
                unit_price_cents: 1250
            }]
        );
    }

    /// A replay (the insert found the key, or the cart is now empty) is
    /// the same order, its clear retried only while it is still queued.
    #[test]
    fn a_replay_answers_the_same_order() {
        for pending in [true, false] {
            let found = [
                Found::KeyTaken {
                    prior: prior(ADA, pending),
                },
                Found::NoDraft {
                    problem: Problem::rule("empty-cart", "empty"),
                    prior: prior(ADA, pending),
                },
            ];
            for found in found {
                let (order, clear) = answered(decide(ADA, None, found));
                assert_eq!(order.status, OrderStatus::Validated);
                assert_eq!(order.id, Uuid::from_u128(7));
                assert_eq!(clear.map(|c| c.others), pending.then_some(0));
            }
        }
    }

    /// The key of another client's order is a 422, whatever the cart.
    #[test]
    fn a_key_reused_by_another_client_is_refused() {
        let problem = refused(decide(
            BOB,
            None,
            Found::KeyTaken {
                prior: prior(ADA, true),
            },
        ));
        assert_eq!(problem.status, 422);
        assert!(problem.kind.ends_with("/idempotency-key-reused"));
        let problem = refused(decide(
            BOB,
            None,
            Found::NoDraft {
                problem: Problem::not_found("no client"),
                prior: prior(ADA, false),
            },
        ));
        assert_eq!(problem.status, 422);
    }

    /// A customer replaying a key of an order it does not own (another
    /// customer's, for the same client id) gets the 422, not the order.
    #[test]
    fn a_replay_reaches_only_the_callers_order() {
        let mut theirs = prior(ADA, false);
        theirs.as_mut().unwrap().order.owner_id = Some(Uuid::from_u128(10));
        let found = Found::KeyTaken {
            prior: theirs.clone(),
        };
        let problem = refused(decide(ADA, Some(Uuid::from_u128(11)), found));
        assert_eq!(problem.status, 422);
        let found = Found::KeyTaken { prior: theirs };
        let (order, _) = answered(decide(ADA, Some(Uuid::from_u128(10)), found));
        assert_eq!(order.owner_id, Some(Uuid::from_u128(10)));
    }

    /// With no order under the key, the cart's problem is the answer; a key
    /// taken by an order that cannot be read is a 500.
    #[test]
    fn without_a_prior_order_the_problem_stands() {
        let problem = refused(decide(
            ADA,
            None,
            Found::NoDraft {
                problem: Problem::not_found("no client"),
                prior: None,
            },
        ));
        assert_eq!(problem.status, 404);
        let problem = refused(decide(ADA, None, Found::KeyTaken { prior: None }));
        assert_eq!(problem.status, 500);
    }

    /// Panier's 204 and 404 confirm a clear; anything else keeps it queued.
    #[test]
    fn the_outbox_keeps_what_panier_did_not_confirm() {
        let clear = Clear::of(&order(ADA), 3);
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
            assert_eq!(
                after_checkout(&clear, Some(status)),
                Outbox::Done { others: 3 }
            );
        }
        for answer in [
            None,
            Some(StatusCode::OK),
            Some(StatusCode::UNPROCESSABLE_ENTITY),
            Some(StatusCode::SERVICE_UNAVAILABLE),
        ] {
            assert_eq!(after_checkout(&clear, answer), Outbox::Keep);
        }
    }

    /// The checkout names the order and each line it took.
    #[test]
    fn the_checkout_body_lists_what_the_order_took() {
        let clear = Clear::of(&order(ADA), 0);
        assert_eq!(clear.path(), format!("/panier/{ADA}/checkout"));
        assert_eq!(
            clear.body(),
            json!({"order_id": Uuid::from_u128(7),
                   "lines": [{"product_id": "CAFE-250", "quantity": 2}]})
        );
    }
}
