//! `username_template`: the small template language both engines' generated names are made
//! with (not Vault's Go templates, a subset of its shape). A template is literal text plus
//! `{{ value | truncate N }}` actions:
//!
//! | action | value |
//! |---|---|
//! | `{{.DisplayName}}` | the calling token's display name (`root`, `token`, `approle`) |
//! | `{{.RoleName}}` (alias `{{.PolicyName}}`) | the role's name |
//! | `{{unix_time}}` | seconds since 1970, from the core's clock |
//! | `{{random N}}` | N random characters from the engine's alphabet, 1 <= N <= its limit |
//!
//! Any action may end in `| truncate N` (the first N characters; given twice, the shorter
//! wins). A template must produce at least [`MIN_RANDOM`] random characters in all: a name names
//! one lease's account, and two leases sharing one would destroy each other's accounts.
//!
//! The engine keeps what is its own: its default template (built from [`Part`]s, which may
//! carry the mount's marker, see `crate::marker`), its alphabet ([`Style`]: which characters a
//! name may hold and what `random N` draws from) and its length limit.

mod parse;
mod render;

pub use parse::TemplateError;
pub(crate) use render::random;
pub use render::Rendered;

use chrono::{DateTime, Utc};

/// The fewest random characters a template must produce (36^8 ≈ 2.8e12 names).
pub const MIN_RANDOM: usize = 8;

/// `[a-z0-9]`: random characters for names that must be lower case (and for markers).
pub const LOWER_ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// `[A-Za-z0-9]`.
pub const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The safe alphabet for account names: lower-case, and anything outside `[a-z0-9_-]` becomes
/// `_`. A name made of it can sit inside SQL quotes or a URL path segment with no way out.
pub fn safe_char(c: char) -> char {
    match c.to_ascii_lowercase() {
        c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
        _ => '_',
    }
}

/// True if `name` uses only the safe alphabet ([`safe_char`]) and is not empty.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// The safe style: every piece cleaned with [`safe_char`], literals too; random characters
/// from `[a-z0-9]`.
pub const SAFE: Style = Style {
    random_alphabet: LOWER_ALPHANUMERIC,
    clean: safe_char,
    clean_literals: true,
};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as it is (then cleaned, if the engine's [`Style`] cleans literals).
    Literal(String),
    /// The first N characters of the mount's marker. Only engines' default templates hold one:
    /// the template language has no action for it.
    Marker(usize),
    /// A value, cut to `truncate` characters when set.
    Value {
        /// Where the value comes from.
        source: Source,
        /// Keep only the first N characters.
        truncate: Option<usize>,
    },
}

/// What an action prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `.DisplayName`.
    DisplayName,
    /// `.RoleName` (or `.PolicyName`).
    RoleName,
    /// `unix_time`.
    UnixTime,
    /// `random N`.
    Random(usize),
}

/// What a name is made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The mount's marker (`crate::marker`).
    pub marker: &'a str,
    /// The calling token's display name.
    pub display_name: &'a str,
    /// The engine role's name.
    pub role_name: &'a str,
    /// Now, from the core's clock.
    pub now: DateTime<Utc>,
}

/// An engine's alphabet rules.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// The characters `random N` draws from.
    pub random_alphabet: &'static [u8],
    /// Maps every character of a value (display name, role name) to one the target allows.
    pub clean: fn(char) -> char,
    /// Whether literal text and the marker are cleaned too; when not, the engine checks the
    /// rendered name instead.
    pub clean_literals: bool,
}

impl Style {
    fn clean_str(&self, text: &str) -> String {
        text.chars().map(self.clean).collect()
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// A template made of `parts` (an engine's default).
    pub fn from_parts(parts: Vec<Part>) -> Self {
        Self { parts }
    }

    /// The fixed text every name starts with, cleaned as a name is: what reconciliation lists
    /// an engine's accounts by. Empty when the template starts with a value.
    pub fn prefix(&self, style: &Style) -> String {
        match self.parts.first() {
            Some(Part::Literal(text)) => style.clean_str(text),
            _ => String::new(),
        }
    }

    /// The fixed text every name made with `marker` starts with, when it holds the marker
    /// before any value: a name with this prefix was made by this mount. `None` for templates
    /// without a marker (custom ones), whose names prove nothing.
    pub fn marked_prefix(&self, marker: &str, style: &Style) -> Option<String> {
        let mut prefix = String::new();
        let mut marked = false;
        for part in &self.parts {
            match part {
                Part::Literal(text) => prefix.push_str(&style.clean_str(text)),
                Part::Marker(n) => {
                    let cut: String = marker.chars().take(*n).collect();
                    prefix.push_str(&style.clean_str(&cut));
                    marked = true;
                }
                Part::Value { .. } => break,
            }
        }
        marked.then_some(prefix)
    }
}
