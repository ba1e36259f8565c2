//! Timers: a worker's deadline queue, one entry per (deadline, slot). An
//! entry is only a hint: the core fires it only if the peer is still there
//! and still wants that deadline, so stale entries cost a pop, nothing more.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::id::Slot;

/// A deadline and the slot it is for.
pub(crate) type Timer = (Instant, Slot);

/// Deadlines, soonest first.
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Reused for each turn's due timers.
    due: Vec<Timer>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            due: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, at: Instant, slot: Slot) {
        self.heap.push(Reverse((at, slot.index, slot.generation)));
    }

    /// The soonest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes up to `budget` timers due at `now`, all at once, so a peer that
    /// reschedules itself for `now` while they fire waits for the next turn.
    /// Hand the buffer back with [`recycle`](Self::recycle).
    pub(crate) fn take_due(&mut self, now: Instant, budget: usize) -> Vec<Timer> {
        let mut due = std::mem::take(&mut self.due);
        while due.len() < budget {
            match self.heap.peek() {
                Some(Reverse((at, index, generation))) if *at <= now => {
                    let slot = Slot {
                        index: *index,
                        generation: *generation,
                    };
                    due.push((*at, slot));
                    self.heap.pop();
                }
                _ => break,
            }
        }
        due
    }

    /// Gives back the buffer [`take_due`](Self::take_due) lent.
    pub(crate) fn recycle(&mut self, mut due: Vec<Timer>) {
        due.clear();
        self.due = due;
    }
}
