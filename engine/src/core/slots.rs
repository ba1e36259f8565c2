//! SlotTable: a worker's peers by slot. An index is reused once its peer is
//! gone, with its generation bumped, so a stale [`Slot`] (in a timer, a
//! demux entry, a command) misses instead of reaching the new peer.

use crate::id::Slot;

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// Values by slot, with a free list.
pub(crate) struct SlotTable<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
}

impl<T> SlotTable<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A vacant slot for a new value; `None` once indices run out. Until
    /// [`place`](Self::place) fills it, give it back with
    /// [`unreserve`](Self::unreserve).
    pub(crate) fn reserve(&mut self) -> Option<Slot> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len()).ok()?;
                self.entries.push(Entry {
                    generation: 0,
                    value: None,
                });
                index
            }
        };
        let generation = self.entries[index as usize].generation;
        Some(Slot { index, generation })
    }

    /// Gives back a reserved slot that was not filled.
    pub(crate) fn unreserve(&mut self, slot: Slot) {
        self.free.push(slot.index);
    }

    /// Fills a reserved slot.
    pub(crate) fn place(&mut self, slot: Slot, value: T) {
        if let Some(entry) = self.entries.get_mut(slot.index as usize) {
            entry.value = Some(value);
        }
    }

    /// The value in `slot`, if the slot still holds that generation.
    pub(crate) fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        self.entries
            .get_mut(slot.index as usize)
            .filter(|entry| entry.generation == slot.generation)?
            .value
            .as_mut()
    }

    /// Whether `slot` holds a value of its generation.
    pub(crate) fn contains(&self, slot: Slot) -> bool {
        self.entries
            .get(slot.index as usize)
            .is_some_and(|entry| entry.generation == slot.generation && entry.value.is_some())
    }

    /// Takes the value out of `slot`; the index is free again, under the
    /// next generation.
    pub(crate) fn remove(&mut self, slot: Slot) -> Option<T> {
        let entry = self.entries.get_mut(slot.index as usize)?;
        if entry.generation != slot.generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot.index);
        Some(value)
    }

    /// How many indices exist (filled or not): the bound for [`at`](Self::at).
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The slot at `index`, if it holds a value.
    pub(crate) fn at(&self, index: usize) -> Option<Slot> {
        let entry = self.entries.get(index)?;
        entry.value.as_ref()?;
        Some(Slot {
            index: u32::try_from(index).ok()?,
            generation: entry.generation,
        })
    }

    /// Every filled slot and its value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Slot, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let value = entry.value.as_ref()?;
                let slot = Slot {
                    index: index as u32,
                    generation: entry.generation,
                };
                Some((slot, value))
            })
    }

    /// Every filled slot and its value, to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (Slot, &mut T)> {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(index, entry)| {
                let slot = Slot {
                    index: index as u32,
                    generation: entry.generation,
                };
                Some((slot, entry.value.as_mut()?))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_index_gets_a_new_generation_and_stale_slots_miss() {
        let mut table = SlotTable::new();
        let first = table.reserve().unwrap();
        table.place(first, "first");
        assert_eq!(table.remove(first), Some("first"));
        let second = table.reserve().unwrap();
        assert_eq!(second.index, first.index);
        assert_ne!(second.generation, first.generation);
        table.place(second, "second");
        assert_eq!(table.get_mut(first), None);
        assert_eq!(table.remove(first), None);
        assert!(table.contains(second));
        assert_eq!(
            table.iter().map(|(slot, _)| slot).collect::<Vec<_>>(),
            vec![second]
        );
    }

    #[test]
    fn an_unfilled_reservation_is_reused_as_it_was() {
        let mut table = SlotTable::<u8>::new();
        let slot = table.reserve().unwrap();
        table.unreserve(slot);
        assert_eq!(table.reserve(), Some(slot));
        assert_eq!(table.at(0), None, "reserved, not filled");
    }
}
