// stackoverflow-rust: a Rust program that overflows its stack, on the main
// thread (no argument) or on a spawned thread with a 1 MiB stack
// ("thread"). Rust's std finds the guard page from the thread's stack
// bounds (glibc's pthread_getattr_np, which reads /proc/self/maps and the
// stack rlimit for the main thread), catches the SIGSEGV on its
// sigaltstack, prints "has overflowed its stack" and aborts: exit 134.
// Anything else (a plain SIGSEGV, 139, or a hang) differs from Linux.
fn recurse(n: u64, seen: &mut Vec<u64>) -> u64 {
    let frame = [n; 512];
    seen.push(frame[(n % 512) as usize]);
    if n == 0 {
        return 0;
    }
    std::hint::black_box(recurse(n - 1, seen)) + frame[7]
}

fn main() {
    println!("before the overflow");
    if std::env::args().nth(1).as_deref() == Some("thread") {
        let child = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| recurse(1 << 40, &mut Vec::new()))
            .expect("spawn");
        println!("joined: {:?}", child.join().is_ok());
    } else {
        println!("{}", recurse(1 << 40, &mut Vec::new()));
    }
}
