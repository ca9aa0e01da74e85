//! The `gatehouse` binary; the program itself is the library's [`gatehouse::main`] (a library so
//! the fuzz targets can reach its code).

/// jemalloc, for Rust's allocations and (unprefixed) for SQLite's and libpg_query's C too:
/// with glibc's malloc the gateway's RSS grew from one burst of 1,000 sessions to the next
/// and never came back (freed, fragmented memory kept), and it spent more CPU per statement.
/// It returns freed memory after a second, from a background thread (`.cargo/config.toml`).
/// Figures: RELIABILITY.md, "Memory across repeated runs".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    gatehouse::main()
}
