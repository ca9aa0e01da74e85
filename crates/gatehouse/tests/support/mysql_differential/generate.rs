//! The generator of the MySQL differential fuzzer: COM_QUERY messages built from fragments that
//! stress what gatehouse's MariaDB lexer and allowlist classifier must read exactly as the
//! server does (quotes of every kind with backslashes, the three comment styles, executable
//! comments, multi-statements, sql_mode and character set changes within and across messages,
//! PREPARE/EXECUTE in SQL, functions with side effects), then mutated character by character.
//! Deterministic per seed (its own PRNG), so that `MYSQL_DIFF_FUZZ_SEED` replays a run.

/// The fuzzed database's name in a case; the harness puts the run's own in its place.
pub const DB: &str = "@DB@";

/// SplitMix64: small, fast and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The seed of case `index` of a run seeded `seed`.
pub fn case_seed(seed: u64, index: u64) -> u64 {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
    rng.next()
}

/// Statements the fuzzed identity may run (reads, session settings, inserts).
const ALLOWED: &[&str] = &[
    "SELECT 1",
    "SELECT id, note FROM canary WHERE id = 3",
    "SELECT COUNT(*) FROM canary",
    "SELECT * FROM canary_view",
    "SELECT 'a\\'b', \"c\\\"d\", 'e''f'",
    "SELECT `id` FROM `canary` LIMIT 1",
    "SELECT x'41', _latin1'abc', N'n', 'a' 'b'",
    "SELECT @@sql_mode",
    "SELECT DATABASE()",
    "SELECT CONCAT('--', \"#\", '/*', '*/')",
    "SHOW TABLES",
    "SHOW VARIABLES LIKE 'sql_mode'",
    "INSERT INTO scratch VALUES (1, 'ins')",
    "INSERT INTO scratch (id, note) SELECT id, note FROM canary WHERE id < 3",
    "INSERT INTO scratch VALUES (2, '; DELETE FROM canary; ')",
    "SET @v = 'DELETE FROM canary'",
    "SET @a = 1",
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
    "SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'",
    "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
    "SET @@session.sql_mode = DEFAULT",
    "SET sql_mode = ''",
    "SET NAMES utf8mb4",
    "SET NAMES latin1",
    "SET CHARACTER SET utf8mb4",
    "USE @DB@",
    "USE `@DB@`",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PREPARE p FROM 'SELECT id FROM canary WHERE id = ?'",
    "PREPARE p FROM 'SELECT 1'",
    "EXECUTE p",
    "EXECUTE p USING @a",
    "DEALLOCATE PREPARE p",
    "SET @@sql_mode := 'ANSI_QUOTES'",
    "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES', @b = 'x\\'",
    "SET @m = 'ANSI_QUOTES'",
    "SET sql_mode = @m",
    "SET sql_mode = (SELECT 'NO_BACKSLASH_ESCAPES')",
    "/*!40101 SET sql_mode = 'ANSI_QUOTES' */",
    "/*M!100000 SET sql_mode = 'NO_BACKSLASH_ESCAPES' */",
    "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 'a\\'",
    "SET NAMES gbk",
    "SET NAMES sjis",
    "SET NAMES big5",
    "SET character_set_client = gbk",
    "SET NAMES 'latin1' COLLATE latin1_bin",
    "SELECT '中\\'",
    "SELECT 'é'",
];

/// Statements it may not run: writes and calls that change the canary or the trap.
const DENIED: &[&str] = &[
    "DELETE FROM canary",
    "DELETE FROM canary WHERE id = 1",
    "UPDATE canary SET note = 'changed'",
    "REPLACE INTO canary VALUES (1, 'replaced')",
    "INSERT INTO canary VALUES (1, 'dup') ON DUPLICATE KEY UPDATE note = 'upserted'",
    "TRUNCATE canary",
    "DROP TABLE canary",
    "ALTER TABLE canary ADD COLUMN extra INT",
    "CREATE TABLE made (id INT)",
    "SELECT trap_write()",
    "SELECT id, trap_write() FROM canary WHERE id = 1",
    "CALL trap_proc()",
    "DO trap_write()",
    "SET @x = trap_write()",
    "PREPARE p FROM @v",
    "PREPARE p FROM 'DELETE FROM canary'",
    "CREATE TRIGGER t BEFORE INSERT ON scratch FOR EACH ROW INSERT INTO trap (what) VALUES ('function')",
    "SELECT * FROM canary INTO OUTFILE '/tmp/ghd_out'",
    "HANDLER canary OPEN",
];

/// Texts that read one way with backslash escapes and another way without, or under
/// ANSI_QUOTES, or that hide a statement in a comment the server executes.
const TRICKS: &[&str] = &[
    "SELECT 'a\\'; DELETE FROM canary; -- '",
    "SELECT \"a\\\"; DELETE FROM canary; -- \"",
    "SELECT \"a\"\"; DELETE FROM canary; -- \"",
    "SELECT `a\\`; DELETE FROM canary; -- `",
    "SELECT 1 /*! ; DELETE FROM canary */",
    "SELECT 1 /*!50000 ; DELETE FROM canary */",
    "SELECT 1 /*!999999 ; DELETE FROM canary */",
    "SELECT 1 /*!100000 , trap_write() */",
    "SELECT 1 /*M! ; DELETE FROM canary */",
    "SELECT 1 /*M!100000 , trap_write() */",
    "SELECT 1 /* ; DELETE FROM canary */",
    "SELECT 1 # ; DELETE FROM canary",
    "SELECT 1 -- ; DELETE FROM canary",
    "SELECT 1 --; DELETE FROM canary",
    "SELECT 1 --1; DELETE FROM canary",
    "SELECT 1 -- x\n; DELETE FROM canary",
    "SELECT 1 #\n; DELETE FROM canary",
    "SELECT 1 /*!*/; DELETE FROM canary",
    "SELECT 1 /*! /* */ ; DELETE FROM canary */",
    "SELECT '\\\\'; DELETE FROM canary; -- '",
    "SELECT _binary'\\'; DELETE FROM canary; -- '",
    "SELECT N'\\'; DELETE FROM canary; -- '",
    "SELECT 1 /*!00000 ; DELETE FROM canary */",
    "/*!SELECT 1 */; DELETE FROM canary",
    "SELECT 1 /* unterminated ; DELETE FROM canary",
    "SELECT 'x' /**/; /**/ DELETE FROM canary",
    "SELECT 1;\0DELETE FROM canary",
    "SELECT 'a'\n'; DELETE FROM canary; -- '",
    "SELECT '中\\'; DELETE FROM canary; -- '",
    "SELECT 0x5c, '縗\\'; DELETE FROM canary; -- '",
    "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 'a\\'; DELETE FROM canary; -- '",
    "SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT \"a\\\"; DELETE FROM canary; -- \"",
    "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DELETE FROM canary; -- '",
    "SET sql_mode = 'ANSI_QUOTES'; SELECT \"a\\\"; DELETE FROM canary; -- \"",
    "/*!40101 SET sql_mode = 'NO_BACKSLASH_ESCAPES' */; SELECT 'a\\'; DELETE FROM canary; -- '",
    "SET @m = 'NO_BACKSLASH_ESCAPES'; SET sql_mode = @m; SELECT 'a\\'; DELETE FROM canary; -- '",
    "PREPARE p FROM 'SELECT 1; DELETE FROM canary'",
    "PREPARE p FROM 'SELECT \\'; DELETE FROM canary; -- \\''",
    "PREPARE p FROM \"SELECT 1 /*!, trap_write() */\"",
    "PREPARE p FROM CONCAT('DELETE', ' FROM canary')",
    "EXECUTE IMMEDIATE 'DELETE FROM canary'",
    "EXECUTE IMMEDIATE 'SELECT 1'",
    "SELECT 1 /*!50000 /*!60000 ; DELETE FROM canary */ */",
    "SELECT 1 /*!M ; DELETE FROM canary */",
    "SELECT 1 /*!12345a ; DELETE FROM canary */",
    "SELECT 1 /*!1234 ; DELETE FROM canary */",
];

/// Pieces a mutation inserts.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "\\",
    ";",
    "#",
    "--",
    "-- ",
    "/*",
    "*/",
    "/*!",
    "/*M!",
    "/*!50000",
    "\n",
    " ",
    "!",
    "\\'",
    "''",
    "\"\"",
    ";DELETE FROM canary",
    "trap_write()",
    "/*!99999",
    "\r",
    "\t",
];

const SEPARATORS: &[&str] = &[";", "; ", ";\n", " ;", "/**/;", ";/**/", "; -- x\n", ";#\n"];

fn statement(rng: &mut Rng) -> String {
    let pool = match rng.below(10) {
        0..=4 => ALLOWED,
        5..=6 => DENIED,
        _ => TRICKS,
    };
    rng.pick(pool).to_owned()
}

/// One COM_QUERY message: one statement or several, sometimes with comments around.
pub fn message(rng: &mut Rng) -> String {
    let count = match rng.below(10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let mut text = String::new();
    if rng.chance(15) {
        text.push_str(rng.pick(&["/* lead */ ", "-- lead\n", "# lead\n", " ", "\n"]));
    }
    for index in 0..count {
        if index > 0 {
            text.push_str(rng.pick(SEPARATORS));
        }
        text.push_str(&statement(rng));
    }
    if rng.chance(15) {
        text.push_str(rng.pick(&[";", " -- tail", " # tail", " /* tail */", "; ", "\n"]));
    }
    if rng.chance(25) {
        text = mutate_text(rng, &text);
    }
    text
}

/// Insert, delete or duplicate characters, or cut the text short.
pub fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 | 1 => {
                let piece: Vec<char> = rng.pick(PIECES).chars().collect();
                chars.splice(at..at, piece);
            }
            2 if at < chars.len() => {
                let end = (at + 1 + rng.below(4)).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                let end = (at + 1 + rng.below(8)).min(chars.len());
                let span: Vec<char> = chars[at.min(end)..end].to_vec();
                chars.splice(at..at, span);
            }
        }
    }
    chars.into_iter().collect()
}

/// A random case: a few messages, often a mode or character set change first so that the
/// messages after it are read under it.
pub fn random_case(rng: &mut Rng) -> Vec<String> {
    let mut messages = Vec::new();
    if rng.chance(40) {
        messages.push(
            rng.pick(&[
                "SET sql_mode = 'ANSI_QUOTES'",
                "SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
                "SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'",
                "SET sql_mode = 'ANSI'",
                "SET NAMES latin1",
                "SET @@sql_mode = 'PIPES_AS_CONCAT'",
                "SET NAMES gbk",
                "SET NAMES big5",
                "SET sql_mode = 'ORACLE'",
            ])
            .to_owned(),
        );
    }
    for _ in 0..1 + rng.below(5) {
        messages.push(message(rng));
    }
    messages
}

/// A corpus case changed: a message mutated, replaced, added or dropped.
pub fn mutate(rng: &mut Rng, parent: &[String]) -> Vec<String> {
    let mut messages = parent.to_vec();
    for _ in 0..=rng.below(2) {
        let at = rng.below(messages.len() + 1);
        match rng.below(4) {
            0 if at < messages.len() => {
                messages[at] = mutate_text(rng, &messages[at]);
            }
            1 if at < messages.len() => {
                messages.remove(at);
            }
            2 if at < messages.len() => {
                messages[at] = message(rng);
            }
            _ => messages.insert(at, message(rng)),
        }
    }
    if messages.is_empty() {
        messages.push(message(rng));
    }
    messages
}
