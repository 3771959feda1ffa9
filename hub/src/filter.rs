//! An eater's subscription as the fan-out applies it: before queueing, so
//! a dumpling the eater did not ask for takes no queue slot and no write.
//!
//! The hot path allocates nothing: a dumpling's (kitchen, chef) is its
//! metrics series ([`SeriesId`], which the kitchen task already looked up
//! without allocating), and the verdict for each series is computed once
//! per eater and kept in a small table indexed by that id. Past
//! [`crate::MAX_SERIES`] distinct pairs, new ones share the `_other` series;
//! for those the chef is read from the text again and the kitchen filter
//! is not applied (their kitchen is not known).

use nd_protocol::subscription::Subscription;

use crate::metrics::{Registry, SeriesId, OTHER};
use crate::queue::Queued;

/// Verdicts in [`Filter::verdicts`].
const UNKNOWN: u8 = 0;
const WANTED: u8 = 1;
const UNWANTED: u8 = 2;

/// One eater's subscription and its per-series verdicts.
#[derive(Debug)]
pub(crate) struct Filter {
    /// What the eater asked for.
    subscription: Subscription,
    /// By series id: [`UNKNOWN`], [`WANTED`] or [`UNWANTED`]. Grows only
    /// when a series first reaches this eater (at most MAX_SERIES + 2).
    verdicts: Vec<u8>,
}

impl Filter {
    pub(crate) fn new(subscription: Subscription) -> Filter {
        Filter {
            subscription,
            verdicts: Vec::new(),
        }
    }

    /// The subscription in force.
    pub(crate) fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Replaces the subscription (a `subscribe` message): from the next
    /// dumpling on.
    pub(crate) fn replace(&mut self, subscription: Subscription) {
        self.subscription = subscription;
        self.verdicts.clear();
    }

    /// Whether `q` is wanted. `status` is the series of the hub's status
    /// dumplings.
    pub(crate) fn wants(&mut self, q: &Queued, registry: &Registry, status: SeriesId) -> bool {
        if q.series == status {
            return self.subscription.status;
        }
        let i = q.series as usize;
        match self.verdicts.get(i) {
            Some(&WANTED) => return true,
            Some(&UNWANTED) => return false,
            _ => {}
        }
        let Some((kitchen, chef)) = registry.names(q.series) else {
            return true; // never: every series id comes from the registry
        };
        if kitchen == OTHER && chef == OTHER {
            // Shared by many (kitchen, chef) pairs: decide per dumpling.
            let chef = nd_protocol::validate_dumpling(q.text.as_str()).map(|s| s.chef);
            return chef.is_ok_and(|chef| self.subscription.wants(&chef, None));
        }
        let wanted = self.subscription.wants(&chef, Some(&kitchen));
        if self.verdicts.len() <= i {
            self.verdicts.resize(i + 1, UNKNOWN);
        }
        self.verdicts[i] = if wanted { WANTED } else { UNWANTED };
        wanted
    }
}
