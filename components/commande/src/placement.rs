//! The decisions of placing an order, as plain data in and out: whether a
//! request creates an order, replays one (its `Idempotency-Key` was used
//! before) or is refused, and what the cart-clear outbox does with panier's
//! answer. The adapter (`lib.rs`) runs the statements and calls; nothing
//! here does I/O.

use comptoir_kit::Problem;
use serde_json::json;
use spin_sdk::http::StatusCode;
use uuid::Uuid;

use crate::domain::{self, Order};

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

/// What the request answers.
#[derive(Debug)]
pub enum Decision {
    /// 201 with `order`, once `clear` (if any) has been tried.
    Answer { order: Order, clear: Option<Clear> },
    /// This problem; nothing is written.
    Refuse(Problem),
}

/// The answer to a placement by `client`, asked by a caller of `scope`
/// (`None`: staff; `Some(owner)`: a customer), that found `found`.
///
/// A new order always clears its cart (and retries stale clears of other
/// orders); a replay answers the same order with the same 201, clearing its
/// cart only if that is still queued, and only for the client who placed
/// it and a caller who reaches it; without an order under the key, the
/// problem that stopped this request is the answer.
pub fn decide(client: Uuid, scope: Option<Uuid>, found: Found) -> Decision {
    match found {
        Found::Inserted(order) => Decision::Answer {
            clear: Some(Clear::of(&order, CLEARS_PER_REQUEST)),
            order,
        },
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
    Decision::Answer {
        clear: clear_pending.then(|| Clear::of(&order, 0)),
        order,
    }
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
            Decision::Refuse(problem) => panic!("refused: {problem:?}"),
        }
    }

    fn refused(decision: Decision) -> Problem {
        match decision {
            Decision::Refuse(problem) => problem,
            Decision::Answer { order, .. } => panic!("answered {order:?}"),
        }
    }

    /// A new order clears what it took and takes up stale clears.
    #[test]
    fn a_new_order_clears_its_cart_and_retries_others() {
        let (order, clear) = answered(decide(ADA, None, Found::Inserted(order(ADA))));
        let clear = clear.unwrap();
        assert_eq!((clear.order, clear.client), (order.id, ADA));
        assert_eq!(clear.lines, [("CAFE-250".to_owned(), 2)]);
        assert_eq!(clear.others, CLEARS_PER_REQUEST);
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
