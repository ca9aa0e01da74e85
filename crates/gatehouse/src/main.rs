//! The `gatehouse` binary; the program itself is the library's [`gatehouse::main`] (a library so
//! the fuzz targets can reach its code).

fn main() -> std::process::ExitCode {
    gatehouse::main()
}
