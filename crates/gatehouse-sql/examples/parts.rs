fn main() {
    let sql = "SELECT o.id, c.name, p.title FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id WHERE o.created_at > now() - interval '1 day' AND c.region = 'eu' ORDER BY o.id DESC LIMIT 50";
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::parse(sql, 0).unwrap());
    }
    println!("parse: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::fingerprint(sql, 0, 0).unwrap());
    }
    println!("fingerprint: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::scan_tokens(sql).unwrap());
    }
    println!("scan_tokens: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::summary(sql, 0, -1).unwrap());
    }
    println!("summary: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(gatehouse_sql::classify(sql));
    }
    println!("classify: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(gatehouse_sql::classify("SELECT 1"));
    }
    println!("classify select 1: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::parse("SELECT 1", 0).unwrap());
    }
    println!("parse select 1: {:?}", t.elapsed() / n);
}
