//! Prints the classification of each argument (a development aid).
fn main() {
    for sql in std::env::args().skip(1) {
        if sql == "--big" {
            let sql = "SELECT 1;".repeat(1024 * 1024 / 9);
            let t = std::time::Instant::now();
            let out = gatehouse_sql::classify(&sql);
            println!("big: {} statements in {:?}", out.len(), t.elapsed());
            continue;
        }
        for c in gatehouse_sql::classify(&sql) {
            println!("{c:?}");
        }
    }
}
