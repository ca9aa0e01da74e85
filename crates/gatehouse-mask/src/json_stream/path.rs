//! Where the reader is in the document, kept as what the rules need and no more: per open object
//! or array, the pattern positions its path has reached (a set of NFA states, `**` being a
//! loop) and the first rule matching it or an enclosing value. Keys are never kept; memory is
//! the nesting depth times the pattern positions, whatever the document's size.

use super::pattern::{Segment, Step};
use super::rules::Rule;

/// Rule `rule` has matched the path up to segment `at` (`at == len`: the whole pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    rule: usize,
    at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    Object,
    Array,
}

/// A value's place: its states are `states[start..]` (up to the next node's start), and
/// `matched` the first rule whose pattern matches it or an object or array enclosing it.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    start: usize,
    matched: Option<usize>,
}

#[derive(Debug)]
struct Frame {
    container: Container,
    node: Node,
    /// Where the states of the frame's members begin.
    end: usize,
    next_index: u64,
}

/// The open objects and arrays, and the value about to be (or being) read.
#[derive(Debug, Default)]
pub(super) struct PathStack {
    states: Vec<State>,
    frames: Vec<Frame>,
    pending: Node,
}

impl PathStack {
    /// A new document: the value about to be read is its root.
    pub(super) fn begin_document(&mut self, rules: &[Rule]) {
        self.states.clear();
        self.frames.clear();
        for (rule, compiled) in rules.iter().enumerate() {
            self.add(&compiled.segments, rule, 0, 0);
        }
        self.pending = Node {
            start: 0,
            matched: self.whole_match(rules, 0),
        };
    }

    /// The rule deciding the value about to be read, if one does.
    pub(super) fn matched(&self) -> Option<usize> {
        self.pending.matched
    }

    /// The value about to be read is an object or array; its members come next.
    pub(super) fn open(&mut self, container: Container) {
        self.frames.push(Frame {
            container,
            node: self.pending,
            end: self.states.len(),
            next_index: 0,
        });
    }

    /// The innermost object or array ends; returns which it was.
    pub(super) fn close(&mut self) -> Option<Container> {
        self.frames.pop().map(|frame| frame.container)
    }

    /// The value just read (a scalar, or an object or array just closed) is complete.
    pub(super) fn value_done(&mut self) {
        self.states
            .truncate(self.frames.last().map_or(0, |frame| frame.end));
    }

    pub(super) fn innermost(&self) -> Option<Container> {
        self.frames.last().map(|frame| frame.container)
    }

    pub(super) fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The next value is the member `key` of the innermost object.
    pub(super) fn enter_key(&mut self, rules: &[Rule], key: &str) {
        self.enter(rules, Step::Key(key));
    }

    /// The next value is the next element of the innermost array.
    pub(super) fn enter_element(&mut self, rules: &[Rule]) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let index = frame.next_index;
        frame.next_index = index.saturating_add(1);
        self.enter(rules, Step::Index(index));
    }

    /// Bytes held: what the stack costs at its current depth.
    pub(super) fn held_bytes(&self) -> usize {
        self.states.len() * size_of::<State>() + self.frames.len() * size_of::<Frame>()
    }

    fn enter(&mut self, rules: &[Rule], step: Step<'_>) {
        let Some(frame) = self.frames.last() else {
            return;
        };
        let (from, end, inherited) = (frame.node.start, frame.end, frame.node.matched);
        self.states.truncate(end);
        for index in from..end {
            let Some(&State { rule, at }) = self.states.get(index) else {
                break;
            };
            let Some(segments) = rules.get(rule).map(|compiled| &compiled.segments) else {
                continue;
            };
            match segments.get(at) {
                Some(Segment::AnyDepth) => self.add(segments, rule, at, end),
                Some(segment) if segment.takes(step) => self.add(segments, rule, at + 1, end),
                _ => {}
            }
        }
        let matched = self.whole_match(rules, end);
        self.pending = Node {
            start: end,
            matched: inherited.into_iter().chain(matched).min(),
        };
    }

    /// Adds state `at` of `rule` and, past each `**`, the states after it (`**` may match
    /// nothing), to the set starting at `start`, once each.
    fn add(&mut self, segments: &[Segment], rule: usize, at: usize, start: usize) {
        let mut at = at;
        loop {
            let state = State { rule, at };
            if !self
                .states
                .get(start..)
                .unwrap_or_default()
                .contains(&state)
            {
                self.states.push(state);
            }
            if segments.get(at) != Some(&Segment::AnyDepth) {
                return;
            }
            at += 1;
        }
    }

    /// The first rule whose whole pattern the set starting at `start` has matched.
    fn whole_match(&self, rules: &[Rule], start: usize) -> Option<usize> {
        self.states
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|state| {
                rules
                    .get(state.rule)
                    .is_some_and(|compiled| compiled.segments.len() == state.at)
            })
            .map(|state| state.rule)
            .min()
    }
}
