//! Polling many sources at once (a `fetch` of all of them, a cycle in which thousands fell
//! due): which poll starts next, and how many are started at a time.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};

use futures_util::stream::{self, Stream, StreamExt};
use futures_util::FutureExt;

use super::{host_of, url_of, Claim, Poller};
use crate::config::Source;
use crate::report::PollReport;
use crate::shutdown::Shutdown;
use crate::store::SourceState;

/// Polls started per place under the global limit: those beyond the places wait for one.
pub(super) const STARTED_PER_PLACE: usize = 4;

impl Poller {
    /// Polls every one of `sources` (`states` holds their stored states), yielding each one's
    /// index and report as it finishes.
    ///
    /// A waiting poll is a future of over a kilobyte, and starting every poll at once made
    /// 2,000 sources hold 2.8 MB just to wait for the few places. So at most
    /// [`STARTED_PER_PLACE`] polls per place are started at a time, taken host by host in turn
    /// (each host's in config order): those waiting are spread over the hosts, and no host's
    /// own limit keeps the others' sources from being started.
    pub(crate) fn poll_all<'a, S: Borrow<Source>>(
        &'a self,
        sources: &'a [S],
        mut states: HashMap<String, SourceState>,
        shutdown: &Shutdown,
        claim: Claim,
    ) -> impl Stream<Item = (usize, PollReport)> + 'a {
        let mut states: Vec<Option<SourceState>> = sources
            .iter()
            .map(|s| states.remove(&s.borrow().name))
            .collect();
        let hosts = sources
            .iter()
            .zip(&states)
            .map(|(s, state)| host_of(&url_of(s.borrow(), state.as_ref())));
        let order = in_turn(hosts);
        let shutdown = shutdown.clone();
        stream::iter(order)
            .map(move |i| {
                self.poll(
                    sources[i].borrow(),
                    states[i].take(),
                    shutdown.clone(),
                    claim,
                )
                .map(move |report| (i, report))
            })
            .buffer_unordered(self.started_at_once)
    }
}

/// The indices of `hosts` (one per source), taking one source of each host in turn, hosts in
/// the order of their first source, each host's sources in their own order.
fn in_turn(hosts: impl Iterator<Item = String>) -> Vec<usize> {
    let mut queues: Vec<VecDeque<usize>> = Vec::new();
    let mut queue_of: HashMap<String, usize> = HashMap::new();
    let mut n = 0;
    for (i, host) in hosts.enumerate() {
        let q = *queue_of.entry(host).or_insert_with(|| {
            queues.push(VecDeque::new());
            queues.len() - 1
        });
        queues[q].push_back(i);
        n += 1;
    }
    let mut order = Vec::with_capacity(n);
    // A host is dropped once its sources are all placed: each round costs the hosts left.
    while !queues.is_empty() {
        queues.retain_mut(|queue| {
            order.extend(queue.pop_front());
            !queue.is_empty()
        });
    }
    order
}

#[cfg(test)]
mod tests {
    use super::in_turn;

    #[test]
    fn hosts_take_turns_each_in_its_own_order() {
        let hosts = ["a", "a", "a", "b", "c", "b"].map(String::from);
        assert_eq!(in_turn(hosts.into_iter()), [0, 3, 4, 1, 5, 2]);
        assert_eq!(in_turn(std::iter::empty()), Vec::<usize>::new());
    }
}
