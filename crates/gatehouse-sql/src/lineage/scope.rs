//! What names mean inside a query: the relations, subqueries, functions and common table
//! expressions in scope, the columns each offers, and how a column reference resolves
//! against them when no catalog says which relation has which column.

use gatehouse_core::{ColumnSource, Derivation};

/// One or more columns of a relation-like thing, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Col {
    /// One column, with its name when it has one.
    Named(Option<String>, Derivation),
    /// Every column of a stored relation, under its own name; how many is unknown.
    Stored(String),
    /// Columns of unknown number and names, each derived from this.
    Opaque(Derivation),
}

impl Col {
    /// Everything this column (or these columns) may hold, as a computed value.
    pub(super) fn whole(&self) -> Derivation {
        let mut whole = Derivation::default();
        match self {
            Col::Named(_, derivation) | Col::Opaque(derivation) => {
                whole.absorb(derivation.clone());
            }
            Col::Stored(relation) => {
                whole.rows.insert(Some(relation.clone()));
            }
        }
        whole
    }
}

/// Everything a list of columns may hold, as one computed value.
pub(super) fn whole_of(columns: &[Col]) -> Derivation {
    let mut whole = Derivation::default();
    for column in columns {
        whole.absorb(column.whole());
    }
    whole
}

/// Column `name` of `relation` (`None`: of any relation the statement reads), unchanged.
pub(super) fn stored_column(relation: Option<&str>, name: &str) -> Derivation {
    let mut derivation = Derivation::constant();
    derivation.columns.insert(ColumnSource {
        relation: relation.map(str::to_owned),
        column: name.to_owned(),
    });
    derivation
}

/// What column `name` of `columns` may be; `None` when none of them can be it.
pub(super) fn lookup(columns: &[Col], name: &str) -> Option<Derivation> {
    let mut found: Option<Derivation> = None;
    for column in columns {
        let candidate = match column {
            Col::Named(Some(own), derivation) if own == name => derivation.clone(),
            Col::Named(..) => continue,
            Col::Stored(relation) => stored_column(Some(relation), name),
            Col::Opaque(_) => column.whole(),
        };
        match found.as_mut() {
            Some(found) => found.alternative(candidate),
            None => found = Some(candidate),
        }
    }
    found
}

/// Renames `columns` by an alias's column list (`AS s(a, b)`): named columns in order; columns
/// whose number is unknown cannot be lined up with the names and become opaque.
pub(super) fn renamed(columns: Vec<Col>, names: &[String]) -> Vec<Col> {
    if names.is_empty() {
        return columns;
    }
    if !columns
        .iter()
        .all(|column| matches!(column, Col::Named(..)))
    {
        return vec![Col::Opaque(whole_of(&columns))];
    }
    let mut names = names.iter();
    columns
        .into_iter()
        .map(|column| match (column, names.next()) {
            (Col::Named(_, derivation), Some(name)) => Col::Named(Some(name.clone()), derivation),
            (column, _) => column,
        })
        .collect()
}

/// A name a query can refer to columns through.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub name: String,
    pub columns: Vec<Col>,
}

/// The names visible at one level of a query, and the level around it.
#[derive(Debug, Default)]
pub(super) struct Scope<'p> {
    pub sources: Vec<Source>,
    /// What `*` expands to: the `FROM` items' columns, in order.
    pub star: Vec<Col>,
    /// Common table expressions defined at this level.
    pub ctes: Vec<(String, Vec<Col>)>,
    pub parent: Option<&'p Scope<'p>>,
}

impl<'p> Scope<'p> {
    pub fn within(parent: Option<&'p Scope<'p>>) -> Self {
        Scope {
            parent,
            ..Scope::default()
        }
    }

    fn levels(&self) -> impl Iterator<Item = &Scope<'p>> {
        std::iter::successors(Some(self), |scope| scope.parent)
    }

    /// The columns of the common table expression `name` visible here, if any.
    pub fn cte(&self, name: &str) -> Option<&[Col]> {
        self.levels().find_map(|scope| {
            scope
                .ctes
                .iter()
                .rev()
                .find(|(own, _)| own == name)
                .map(|(_, columns)| columns.as_slice())
        })
    }

    /// The innermost level's sources named `name`.
    fn named(&self, name: &str) -> Option<Vec<&Source>> {
        self.levels().find_map(|scope| {
            let found: Vec<&Source> = scope
                .sources
                .iter()
                .filter(|source| source.name == name)
                .collect();
            (!found.is_empty()).then_some(found)
        })
    }

    /// What a column reference (`c`, `t.c`, `s.t.c`, `t.*`, `*`, `c.field`) derives from.
    pub fn resolve(&self, fields: &[String], star: bool) -> Derivation {
        if fields.is_empty() {
            // `*` inside an expression: whole rows of everything at this level.
            return whole_of(&self.star);
        }
        // A qualified reference: the longest prefix naming a source wins.
        for split in (1..=fields.len()).rev() {
            let Some(prefix) = fields.get(..split) else {
                continue;
            };
            let Some(relation) = prefix.last() else {
                continue;
            };
            if split == fields.len() && !star {
                // all fields as a relation name: only a whole-row reference, handled below
                continue;
            }
            let Some(sources) = self.named(relation) else {
                continue;
            };
            let mut derivation: Option<Derivation> = None;
            for source in sources {
                let found = match fields.get(split) {
                    None => whole_of(&source.columns),
                    Some(column) => lookup(&source.columns, column).unwrap_or_default(),
                };
                match derivation.as_mut() {
                    Some(derivation) => derivation.alternative(found),
                    None => derivation = Some(found),
                }
            }
            let mut derivation = derivation.unwrap_or_default();
            if fields.len() > split + 1 {
                derivation.plain = false;
            }
            return derivation;
        }
        self.unqualified(fields)
    }

    /// `c` or `c.field...`: a column of anything in scope at any level, or a whole row of a
    /// source called `c`.
    fn unqualified(&self, fields: &[String]) -> Derivation {
        let Some(name) = fields.first() else {
            return Derivation::constant();
        };
        let mut derivation: Option<Derivation> = None;
        let mut add = |found: Derivation| match derivation.as_mut() {
            Some(derivation) => derivation.alternative(found),
            None => derivation = Some(found),
        };
        for scope in self.levels() {
            for source in &scope.sources {
                if let Some(found) = lookup(&source.columns, name) {
                    add(found);
                }
                if &source.name == name {
                    add(whole_of(&source.columns));
                }
            }
        }
        let mut derivation = derivation.unwrap_or_else(|| stored_column(None, name));
        if fields.len() > 1 {
            derivation.plain = false;
        }
        derivation
    }
}
