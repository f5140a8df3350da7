//! The projection: every selector of one pattern (or of a whole rule set) merged into one
//! deterministic trie, so one pass over a record visits exactly the selected nodes and evaluates
//! the atoms attached to them. Nothing else of the record is materialised.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::ast::{Atom, Step, Test};
use super::scan;
use crate::pattern::value::{Literal, Op, Scalar, StrMatch};

/// A node of the determinised trie. Wildcard steps are folded in at build time, so the scanner
/// follows a single node per JSON position.
#[derive(Debug, Default)]
pub(crate) struct DNode {
    /// Selectors (slots) that end here.
    pub(crate) leaves: Vec<u32>,
    pub(crate) keys: Vec<(KeyName, u32)>,
    /// Where a key not listed in `keys` leads (from `.*`).
    pub(crate) other_key: Option<u32>,
    pub(crate) indexes: Vec<(usize, u32)>,
    /// Where an index not listed in `indexes` leads (from `[*]`).
    pub(crate) other_index: Option<u32>,
}

impl DNode {
    pub(crate) fn wants_object(&self) -> bool {
        !self.keys.is_empty() || self.other_key.is_some()
    }

    pub(crate) fn wants_array(&self) -> bool {
        !self.indexes.is_empty() || self.other_index.is_some()
    }

    pub(crate) fn key(&self, k: &[u8]) -> Option<u32> {
        self.keys
            .iter()
            .find(|(name, _)| name.is(k))
            .map(|&(_, n)| n)
            .or(self.other_key)
    }

    pub(crate) fn index(&self, i: usize) -> Option<u32> {
        self.indexes
            .iter()
            .find(|&&(n, _)| n == i)
            .map(|&(_, n)| n)
            .or(self.other_index)
    }
}

/// A key of a trie node, compared with a record's keys without a `memcmp` call: the scanner
/// compares every key of every record with a handful of these, and CloudTrail's top-level keys
/// share lengths (`eventName`, `eventTime`, `eventType`, `errorCode`, `awsRegion` are all 9
/// bytes) and first letters.
#[derive(Debug)]
pub(crate) struct KeyName {
    name: Box<[u8]>,
    /// The first and the last 8 bytes (overlapping when shorter than 16), for keys of 8 bytes
    /// or more.
    head: u64,
    tail: u64,
}

impl KeyName {
    fn new(name: &str) -> Self {
        let b = name.as_bytes();
        let (head, tail) = word_ends(b).unwrap_or_default();
        KeyName {
            name: b.into(),
            head,
            tail,
        }
    }

    #[inline]
    pub(crate) fn is(&self, key: &[u8]) -> bool {
        if key.len() != self.name.len() {
            return false;
        }
        match word_ends(key) {
            // Up to 16 bytes the two words cover the key.
            Some((head, tail)) => {
                head == self.head && tail == self.tail && (key.len() <= 16 || *self.name == *key)
            }
            None => self.name.iter().zip(key).all(|(a, b)| a == b),
        }
    }
}

#[inline(always)]
fn word_ends(b: &[u8]) -> Option<(u64, u64)> {
    let head = b.first_chunk::<8>()?;
    let tail = b.last_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), u64::from_le_bytes(*tail)))
}

/// Atoms attached to one selector.
#[derive(Debug, Default)]
struct SlotAtoms {
    /// `= "literal"` atoms (no wildcard), looked up by the value's text in one hash probe: rule
    /// sets compare `eventName` with dozens of names.
    exact: LiteralMap,
    other: Vec<(u32, Test)>,
}

/// Literal value -> ids, probed once or twice per record: FNV-1a instead of SipHash (the keys
/// come from the rule author, not from the records, so flooding is not a concern).
pub(crate) type LiteralMap = HashMap<Box<str>, Vec<u32>, BuildHasherDefault<Fnv1a>>;

#[derive(Default)]
pub(crate) struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Exact-equality atoms go into the hash map only when a selector has at least this many.
const EXACT_MAP_MIN: usize = 4;

#[derive(Debug)]
pub(crate) struct Projection {
    nodes: Vec<DNode>,
    slots: Vec<SlotAtoms>,
    /// Per atom: its slot, and whether it is `NOT EXISTS` (decided by absence, not by a value).
    atom_slot: Vec<u32>,
    atom_not_exists: Vec<bool>,
    /// Selector steps of each slot, to find a slot again by path.
    slot_steps: Vec<Vec<Step>>,
}

/// Per-record evaluation state: which atoms some node satisfied, which slots were reached.
pub(crate) struct State {
    pub(crate) sat: Bits,
    pub(crate) found: Bits,
}

impl Projection {
    pub(crate) fn build(atoms: &[Atom]) -> Self {
        // 1. Non-deterministic trie of the selectors; each distinct selector is one slot.
        let mut trie = vec![TNode::default()];
        let mut slot_steps: Vec<Vec<Step>> = Vec::new();
        let mut atom_slot = Vec::with_capacity(atoms.len());
        for atom in atoms {
            let mut n = 0;
            for step in &atom.steps {
                n = trie_child(&mut trie, n, step);
            }
            let slot = *trie[n].slot.get_or_insert_with(|| {
                slot_steps.push(atom.steps.clone());
                u32::try_from(slot_steps.len() - 1).expect("slot count fits u32")
            });
            atom_slot.push(slot);
        }
        // 2. Atoms per slot.
        let mut slots: Vec<SlotAtoms> = (0..slot_steps.len())
            .map(|_| SlotAtoms::default())
            .collect();
        let mut exact_count = vec![0usize; slot_steps.len()];
        for (i, atom) in atoms.iter().enumerate() {
            if exact_text(&atom.test).is_some() {
                exact_count[atom_slot[i] as usize] += 1;
            }
        }
        for (i, atom) in atoms.iter().enumerate() {
            let id = u32::try_from(i).expect("atom count fits u32");
            let slot = atom_slot[i] as usize;
            match exact_text(&atom.test) {
                Some(t) if exact_count[slot] >= EXACT_MAP_MIN => {
                    slots[slot].exact.entry(t.into()).or_default().push(id)
                }
                _ if matches!(atom.test, Test::NotExists) => {}
                _ => slots[slot].other.push((id, atom.test.clone())),
            }
        }
        // 3. Determinise.
        let mut nodes = Vec::new();
        let mut memo = HashMap::new();
        determinise(&trie, vec![0], &mut nodes, &mut memo);
        Projection {
            nodes,
            slots,
            atom_slot,
            atom_not_exists: atoms
                .iter()
                .map(|a| matches!(a.test, Test::NotExists))
                .collect(),
            slot_steps,
        }
    }

    pub(crate) fn new_state(&self) -> State {
        State {
            sat: Bits::new(self.atom_slot.len()),
            found: Bits::new(self.slot_steps.len()),
        }
    }

    /// The slot of an exact selector path, if some atom uses it.
    pub(crate) fn slot_of(&self, steps: &[Step]) -> Option<u32> {
        self.slot_steps
            .iter()
            .position(|s| s == steps)
            .map(|i| i as u32)
    }

    /// Runs one record through the projection, validating all of it. Returns false when the
    /// message is not a JSON object (J1): then no JSON pattern matches it. `on_leaf` sees every
    /// selected value.
    pub(crate) fn scan<F>(&self, message: &str, state: &mut State, on_leaf: F) -> bool
    where
        F: FnMut(u32, Scalar<'_>),
    {
        self.scan_with::<F, true>(message, state, on_leaf)
    }

    /// As [`Self::scan`], but the subtrees no selector reaches are skipped without being
    /// validated (several times faster on CloudTrail records). The outcome is exact for a valid
    /// message; a caller that finds a match must confirm it with [`scan::is_json_object`]
    /// before reporting it (an invalid message matches no JSON pattern).
    pub(crate) fn scan_unvalidated<F>(&self, message: &str, state: &mut State, on_leaf: F) -> bool
    where
        F: FnMut(u32, Scalar<'_>),
    {
        self.scan_with::<F, false>(message, state, on_leaf)
    }

    fn scan_with<F, const VALIDATE: bool>(
        &self,
        message: &str,
        state: &mut State,
        mut on_leaf: F,
    ) -> bool
    where
        F: FnMut(u32, Scalar<'_>),
    {
        scan::scan::<_, VALIDATE>(&self.nodes, message, |slot, value| {
            state.found.set(slot as usize);
            let Some(v) = value else { return };
            let atoms = &self.slots[slot as usize];
            if !atoms.exact.is_empty()
                && let Some(ids) = v.text().and_then(|t| atoms.exact.get(t))
            {
                for &id in ids {
                    state.sat.set(id as usize);
                }
            }
            for (id, test) in &atoms.other {
                if test.holds(v) {
                    state.sat.set(*id as usize);
                }
            }
            on_leaf(slot, v);
        })
    }

    /// Truth of an atom once the record has been scanned.
    pub(crate) fn holds(&self, state: &State, atom: u32) -> bool {
        let a = atom as usize;
        if self.atom_not_exists[a] {
            !state.found.get(self.atom_slot[a] as usize)
        } else {
            state.sat.get(a)
        }
    }
}

/// The text of an `= "literal"` test without wildcards.
pub(crate) fn exact_text(test: &Test) -> Option<&str> {
    match test {
        Test::Cmp(Op::Eq, Literal::Str(StrMatch::Exact(t))) => Some(t),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct TNode {
    children: Vec<(Step, usize)>,
    slot: Option<u32>,
}

fn trie_child(trie: &mut Vec<TNode>, n: usize, step: &Step) -> usize {
    if let Some(&(_, c)) = trie[n].children.iter().find(|(s, _)| s == step) {
        return c;
    }
    trie.push(TNode::default());
    let c = trie.len() - 1;
    trie[n].children.push((step.clone(), c));
    c
}

/// Subset construction: a deterministic node stands for a set of trie nodes.
fn determinise(
    trie: &[TNode],
    mut set: Vec<usize>,
    nodes: &mut Vec<DNode>,
    memo: &mut HashMap<Vec<usize>, u32>,
) -> u32 {
    set.sort_unstable();
    set.dedup();
    if let Some(&d) = memo.get(&set) {
        return d;
    }
    let id = u32::try_from(nodes.len()).expect("node count fits u32");
    nodes.push(DNode::default());
    memo.insert(set.clone(), id);

    let children = || set.iter().flat_map(|&n| trie[n].children.iter());
    let any_field: Vec<usize> = children()
        .filter(|(s, _)| *s == Step::AnyField)
        .map(|&(_, c)| c)
        .collect();
    let any_elem: Vec<usize> = children()
        .filter(|(s, _)| *s == Step::AnyElement)
        .map(|&(_, c)| c)
        .collect();

    let mut node = DNode {
        leaves: set.iter().filter_map(|&n| trie[n].slot).collect(),
        ..DNode::default()
    };
    let mut seen_keys: Vec<&str> = Vec::new();
    let mut seen_idx: Vec<usize> = Vec::new();
    for (step, _) in children() {
        match step {
            Step::Key(k) if !seen_keys.contains(&&**k) => {
                seen_keys.push(k);
                let mut next: Vec<usize> = children()
                    .filter(|(s, _)| s == step)
                    .map(|&(_, c)| c)
                    .collect();
                next.extend(&any_field);
                let d = determinise(trie, next, nodes, memo);
                node.keys.push((KeyName::new(k), d));
            }
            Step::Index(i) if !seen_idx.contains(i) => {
                seen_idx.push(*i);
                let mut next: Vec<usize> = children()
                    .filter(|(s, _)| s == step)
                    .map(|&(_, c)| c)
                    .collect();
                next.extend(&any_elem);
                let d = determinise(trie, next, nodes, memo);
                node.indexes.push((*i, d));
            }
            _ => {}
        }
    }
    if !any_field.is_empty() {
        node.other_key = Some(determinise(trie, any_field, nodes, memo));
    }
    if !any_elem.is_empty() {
        node.other_index = Some(determinise(trie, any_elem, nodes, memo));
    }
    nodes[id as usize] = node;
    id
}

/// A bit set that lives on the stack up to 512 bits (more than any single pattern of at most
/// 1024 characters can use), so evaluating a record allocates nothing in the common case.
pub(crate) struct Bits {
    inline: [u64; 8],
    heap: Vec<u64>,
}

impl Bits {
    pub(crate) fn new(n: usize) -> Self {
        let heap = if n > 512 {
            vec![0; n.div_ceil(64)]
        } else {
            Vec::new()
        };
        Bits {
            inline: [0; 8],
            heap,
        }
    }

    fn words(&self) -> &[u64] {
        if self.heap.is_empty() {
            &self.inline
        } else {
            &self.heap
        }
    }

    pub(crate) fn set(&mut self, i: usize) {
        let w = if self.heap.is_empty() {
            &mut self.inline[..]
        } else {
            &mut self.heap[..]
        };
        w[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.words()[i / 64] & (1 << (i % 64)) != 0
    }
}
