// hello-rust: hello through Rust's std, built with rustc -C
// target-feature=+crt-static: a static-PIE that rust-lld links (the RELRO
// and data segments share a file page) over glibc, whose start-up Rust's
// runtime extends (it polls fds 0-2, installs stack-overflow handlers).
// Prints its arguments and a sum computed in a heap vector.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("hello from rust, argc={}", args.len());
    for (i, a) in args.iter().enumerate().skip(1) {
        println!("argv[{}]={}", i, a);
    }
    let v: Vec<u64> = (1..=1000).collect();
    println!("sum={}", v.iter().sum::<u64>());
}
