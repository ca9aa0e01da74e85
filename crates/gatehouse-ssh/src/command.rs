//! An exec request's command line, read the way the target login's POSIX shell splits it into
//! words, so that policy can name the program and its arguments; and whether the shell would
//! read anything more into the line than those words ([`ExecCommand::has_shell_syntax`]).
//!
//! The split is only what the line means when it has no shell syntax: the target's shell
//! parses the line again, and expansions, redirections, command separators and substitutions
//! can run anything. That is why policies allow programs only together with
//! `!context.has_shell_syntax`, and why the test is conservative: it flags every character a
//! shell could treat specially, even where this one line would be harmless.

/// An exec request's command line read the way a POSIX shell splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    line: String,
    words: Vec<String>,
    has_shell_syntax: bool,
}

impl ExecCommand {
    /// `line` split into words. Never fails: a line the splitter cannot read whole (unbalanced
    /// quotes) is split as far as possible and has shell syntax.
    pub fn parse(line: &str) -> ExecCommand {
        let (words, unbalanced) = split_words(line);
        let has_shell_syntax = unbalanced
            || special_characters(line)
            || words.first().is_some_and(|word| word.contains('='));
        ExecCommand {
            line: line.to_owned(),
            words,
            has_shell_syntax,
        }
    }

    /// The exact line as sent.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The words after POSIX quote removal (`r""m` is `rm`).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The base name of the first word (`/usr/bin/ls` is `ls`); `""` when there is none.
    pub fn program(&self) -> &str {
        self.words.first().map_or("", |word| base_name(word))
    }

    /// The words after the first.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or_default()
    }

    /// Whether a shell would read more into the line than plain words split on spaces and
    /// tabs (see the module documentation): when true, [`program`](Self::program) and
    /// [`args`](Self::args) are a guess, not necessarily what runs.
    pub fn has_shell_syntax(&self) -> bool {
        self.has_shell_syntax
    }
}

/// The last `/`-separated part of `word`, trailing slashes ignored (`dir/` is `dir`, `/` is
/// `/`).
fn base_name(word: &str) -> &str {
    let trimmed = word.trim_end_matches('/');
    if trimmed.is_empty() {
        return if word.is_empty() { "" } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Whether `line` has a character a shell could treat specially (quotes and unbalanced quotes
/// aside from the splitter's own verdict).
fn special_characters(line: &str) -> bool {
    let mut word_start = true;
    for c in line.chars() {
        let special = match c {
            ' ' | '\t' => {
                word_start = true;
                continue;
            }
            '\'' | '"' | '\\' | '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '{' | '}'
            | '*' | '?' | '[' | ']' | '!' => true,
            '#' | '~' => word_start,
            c => c.is_control() || !c.is_ascii(),
        };
        if special {
            return true;
        }
        word_start = false;
    }
    false
}

/// The words of `line` after POSIX quote removal, and whether a quote was left open. Only
/// splitting and quoting are applied: operators, expansions and globs stay in the words as
/// written (their presence is [`ExecCommand::has_shell_syntax`]'s business). A newline
/// separates words like a blank.
fn split_words(line: &str) -> (Vec<String>, bool) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => {
                            words.push(word);
                            return (words, true);
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some('\n') => {
                                chars.next();
                            }
                            Some(&escaped @ ('$' | '`' | '"' | '\\')) => {
                                word.push(escaped);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(c) => word.push(c),
                        None => {
                            words.push(word);
                            return (words, true);
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                // A line continuation: removed, the word goes on.
                Some('\n') => {}
                Some(escaped) => {
                    word.push(escaped);
                    in_word = true;
                }
                None => {
                    word.push('\\');
                    in_word = true;
                }
            },
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    (words, false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    /// (line, words, has shell syntax)
    const VECTORS: &[(&str, &[&str], bool)] = &[
        // Plain commands.
        ("ls -la /tmp", &["ls", "-la", "/tmp"], false),
        ("cat /etc/hostname", &["cat", "/etc/hostname"], false),
        (
            "git log --oneline -5",
            &["git", "log", "--oneline", "-5"],
            false,
        ),
        ("df -h", &["df", "-h"], false),
        ("uptime", &["uptime"], false),
        ("  whoami  ", &["whoami"], false),
        ("ls\t-l\t\t/tmp", &["ls", "-l", "/tmp"], false),
        ("", &[], false),
        ("   ", &[], false),
        ("/usr/bin/ls /", &["/usr/bin/ls", "/"], false),
        ("ls a=b", &["ls", "a=b"], false),
        ("ls a#b c~", &["ls", "a#b", "c~"], false),
        (
            "du -s --max-depth=1 /var/log",
            &["du", "-s", "--max-depth=1", "/var/log"],
            false,
        ),
        ("ls -- -x", &["ls", "--", "-x"], false),
        ("ls ./a,b:c@d%e+f", &["ls", "./a,b:c@d%e+f"], false),
        // Evasions of a rule on `program`.
        ("r\"\"m -rf /tmp/x", &["rm", "-rf", "/tmp/x"], true),
        ("r''m -rf /tmp/x", &["rm", "-rf", "/tmp/x"], true),
        ("env rm -rf /tmp/x", &["env", "rm", "-rf", "/tmp/x"], false),
        (
            "sh -c 'rm -rf /tmp/x'",
            &["sh", "-c", "rm -rf /tmp/x"],
            true,
        ),
        ("/bin/rm x", &["/bin/rm", "x"], false),
        ("\\rm x", &["rm", "x"], true),
        ("ls;rm x", &["ls;rm", "x"], true),
        ("ls ; rm x", &["ls", ";", "rm", "x"], true),
        ("ls$IFS/tmp", &["ls$IFS/tmp"], true),
        ("FOO=1 rm x", &["FOO=1", "rm", "x"], true),
        ("ls\nrm", &["ls", "rm"], true),
        ("ls\rrm", &["ls\rrm"], true),
        ("ls $(id)", &["ls", "$(id)"], true),
        ("ls `id`", &["ls", "`id`"], true),
        ("ls > /tmp/f", &["ls", ">", "/tmp/f"], true),
        ("ls < /tmp/f", &["ls", "<", "/tmp/f"], true),
        ("ls | sh", &["ls", "|", "sh"], true),
        ("ls && rm x", &["ls", "&&", "rm", "x"], true),
        ("sleep 9 &", &["sleep", "9", "&"], true),
        ("(rm x)", &["(rm", "x)"], true),
        ("{ rm x; }", &["{", "rm", "x;", "}"], true),
        ("rm *", &["rm", "*"], true),
        ("rm ?", &["rm", "?"], true),
        ("rm [ab]", &["rm", "[ab]"], true),
        ("ls #x", &["ls", "#x"], true),
        ("ls ~root", &["ls", "~root"], true),
        ("ls ~", &["ls", "~"], true),
        ("!!", &["!!"], true),
        ("ls 'a b'", &["ls", "a b"], true),
        ("ls \"a b\"", &["ls", "a b"], true),
        ("ls a\\ b", &["ls", "a b"], true),
        ("ls \u{e9}", &["ls", "\u{e9}"], true),
        ("ls \u{0}x", &["ls", "\u{0}x"], true),
        ("ls \u{7f}", &["ls", "\u{7f}"], true),
        ("ls \u{1b}[1m", &["ls", "\u{1b}[1m"], true),
        // POSIX quote removal.
        ("echo ''", &["echo", ""], true),
        ("echo '' x", &["echo", "", "x"], true),
        ("echo 'a\\b'", &["echo", "a\\b"], true),
        (
            "echo \"a\\$b\\`c\\\"d\\\\e\\nf\"",
            &["echo", "a$b`c\"d\\e\\nf"],
            true,
        ),
        ("echo \"a\\\nb\"", &["echo", "ab"], true),
        ("echo a\\\nb", &["echo", "ab"], true),
        ("echo \"it's\"", &["echo", "it's"], true),
        ("echo 'say \"hi\"'", &["echo", "say \"hi\""], true),
        ("a'b'\"c\"d", &["abcd"], true),
        ("echo x\\", &["echo", "x\\"], true),
        // Unbalanced quotes: split as far as possible.
        ("echo 'abc", &["echo", "abc"], true),
        ("echo \"abc", &["echo", "abc"], true),
        ("echo \"a\\\"", &["echo", "a\""], true),
        ("'", &[""], true),
    ];

    #[test]
    fn vectors() {
        for (line, words, syntax) in VECTORS {
            let command = ExecCommand::parse(line);
            assert_eq!(command.words(), *words, "words of {line:?}");
            assert_eq!(command.has_shell_syntax(), *syntax, "syntax of {line:?}");
            assert_eq!(command.line(), *line);
        }
    }

    #[test]
    fn program_is_the_first_words_base_name() {
        let cases = [
            ("ls -la /tmp", "ls", &["-la", "/tmp"][..]),
            ("/usr/bin/ls", "ls", &[]),
            ("/bin/rm x", "rm", &["x"]),
            ("r\"\"m -rf /tmp/x", "rm", &["-rf", "/tmp/x"]),
            ("\\rm x", "rm", &["x"]),
            ("env rm -rf /tmp/x", "env", &["rm", "-rf", "/tmp/x"]),
            ("sh -c 'rm -rf /tmp/x'", "sh", &["-c", "rm -rf /tmp/x"]),
            ("./bin/tool a", "tool", &["a"]),
            ("dir/ x", "dir", &["x"]),
            ("/", "/", &[]),
            ("", "", &[]),
            ("''", "", &[]),
            ("ls;rm x", "ls;rm", &["x"]),
            ("FOO=1 rm x", "FOO=1", &["rm", "x"]),
        ];
        for (line, program, args) in cases {
            let command = ExecCommand::parse(line);
            assert_eq!(command.program(), program, "program of {line:?}");
            assert_eq!(command.args(), args, "args of {line:?}");
        }
    }

    #[test]
    fn assignment_counts_only_in_the_first_word() {
        assert!(ExecCommand::parse("PATH=/tmp ls").has_shell_syntax());
        assert!(ExecCommand::parse("a=b").has_shell_syntax());
        assert!(!ExecCommand::parse("dd if=/dev/zero of=/dev/null count=1").has_shell_syntax());
    }
}
