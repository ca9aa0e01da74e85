//! What classification learns about one statement, and how effects combine: a statement's
//! kind is the strongest effect anywhere in it ([`SqlKind::severity`]), and the reason is
//! the one given with that strongest effect.

use std::collections::HashSet;

use gatehouse_core::SqlKind;

use crate::SessionChange;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub kind: SqlKind,
    pub reason: Option<String>,
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    pub functions: Vec<String>,
    pub all_rows: bool,
    pub session: Option<SessionChange>,
    /// Whether the statement's string literals are part of what it does (a prepared text, a
    /// new `sql_mode` or character set), so its fingerprint keeps them.
    pub literals_matter: bool,
    /// Whether the statement may change the session's `sql_mode` or client character set
    /// to something gatehouse cannot read, so the rest of the message cannot be read as the
    /// server will read it.
    pub unreadable_after: bool,
}

impl Facts {
    /// A statement whose form has effect `kind`.
    pub fn of(kind: SqlKind) -> Facts {
        Facts {
            kind,
            reason: None,
            reads: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            all_rows: false,
            session: None,
            literals_matter: false,
            unreadable_after: false,
        }
    }

    /// A statement gatehouse cannot know the effect of, and why.
    pub fn unknown(reason: impl Into<String>) -> Facts {
        let mut facts = Facts::of(SqlKind::Unknown);
        facts.reason = Some(reason.into());
        facts
    }

    /// A form with effect `kind` for the given reason.
    pub fn because(kind: SqlKind, reason: impl Into<String>) -> Facts {
        let mut facts = Facts::of(kind);
        facts.reason = Some(reason.into());
        facts
    }

    /// Something in the statement has effect `kind`: it becomes the statement's kind, with
    /// `reason`, when it is stronger than what is known so far.
    pub fn raise(&mut self, kind: SqlKind, reason: impl Into<String>) {
        if kind.severity() > self.kind.severity() {
            self.kind = kind;
            self.reason = Some(reason.into());
        }
    }

    /// Records a table read (duplicates are removed by [`Facts::finish`]).
    pub fn read(&mut self, name: String) {
        self.reads.push(name);
    }

    pub fn write(&mut self, name: String) {
        self.writes.push(name);
    }

    pub fn call(&mut self, name: String) {
        self.functions.push(name);
    }

    /// Removes repeated names, keeping the first of each, in linear time (a message may name
    /// a great many tables).
    pub fn finish(&mut self) {
        for names in [&mut self.reads, &mut self.writes, &mut self.functions] {
            let mut seen = HashSet::new();
            names.retain(|name| seen.insert(name.clone()));
        }
    }

    /// Adds everything `inner` found (a nested or prepared statement's facts).
    pub fn absorb(&mut self, inner: Facts) {
        if let Some(reason) = inner.reason.clone() {
            self.raise(inner.kind, reason);
        } else if inner.kind.severity() > self.kind.severity() {
            self.kind = inner.kind;
        }
        inner.reads.into_iter().for_each(|name| self.read(name));
        inner.writes.into_iter().for_each(|name| self.write(name));
        inner.functions.into_iter().for_each(|name| self.call(name));
        self.all_rows |= inner.all_rows;
        self.literals_matter |= inner.literals_matter;
        self.unreadable_after |= inner.unreadable_after;
    }
}
