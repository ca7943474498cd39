// threads-rust: Rust's std threads over glibc, built like hello-rust
// (rustc -C target-feature=+crt-static): spawn and join of 8 named threads,
// a counter in an Arc<Mutex<u64>>, an mpsc channel from several senders,
// thread::scope borrowing the caller's data, a panic in a thread that join
// returns as Err (a panic hook of our own prints one fixed line for it, so
// that stderr does not depend on the environment), and
// available_parallelism, printed as a boolean (the count differs between
// the host and a VM). Everything is printed after the joins, in an order
// no interleaving changes.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

fn spawn_join() {
    let handles: Vec<_> = (0..8u64)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{}", i))
                .spawn(move || {
                    let name = thread::current().name().unwrap_or("").to_string();
                    (name, (1..=1000u64).map(|x| x * (i + 1)).sum::<u64>())
                })
                .expect("spawn")
        })
        .collect();
    let mut total = 0;
    for (i, h) in handles.into_iter().enumerate() {
        let (name, sum) = h.join().expect("join");
        println!("thread {} named {:?}: sum {}", i, name, sum);
        total += sum;
    }
    println!("8 threads: total {}", total);
}

fn mutex_counter() {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..10000 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    println!("Arc<Mutex<u64>> counter, 8 threads x 10000: {}", *counter.lock().unwrap());
    println!("Arc strong count after the joins: {}", Arc::strong_count(&counter));
}

fn channel() {
    let (tx, rx) = mpsc::channel::<(u64, u64)>();
    let handles: Vec<_> = (0..4u64)
        .map(|s| {
            let tx = tx.clone();
            thread::spawn(move || {
                for k in 0..1000u64 {
                    tx.send((s, k)).expect("send");
                }
            })
        })
        .collect();
    drop(tx);
    let mut per_sender = [0u64; 4];
    let mut n = 0;
    for (s, k) in rx {
        per_sender[s as usize] += k;
        n += 1;
    }
    for h in handles {
        h.join().expect("join");
    }
    println!("mpsc: {} messages, per sender {:?}", n, per_sender);
}

fn scoped() {
    let data: Vec<u64> = (1..=100000).collect();
    let sum = AtomicU64::new(0);
    thread::scope(|s| {
        for chunk in data.chunks(25000) {
            let sum = &sum;
            s.spawn(move || {
                sum.fetch_add(chunk.iter().sum::<u64>(), Ordering::Relaxed);
            });
        }
    });
    println!("thread::scope over 4 chunks: sum {}", sum.load(Ordering::Relaxed));
}

fn panicking() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let name = thread::current().name().unwrap_or("?").to_string();
        let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("?");
        eprintln!("panic hook: thread {} panicked: {}", name, msg);
    }));
    let h = thread::Builder::new()
        .name("panicker".to_string())
        .spawn(|| -> u64 { panic!("on purpose") })
        .expect("spawn");
    let r = h.join();
    std::panic::set_hook(default_hook);
    match r {
        Ok(v) => println!("FAIL: join of a panicking thread returned Ok({})", v),
        Err(e) => println!(
            "join of a panicking thread: Err({:?})",
            e.downcast_ref::<&str>().copied().unwrap_or("?")
        ),
    }
}

fn main() {
    spawn_join();
    mutex_counter();
    channel();
    scoped();
    panicking();
    let p = thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("available_parallelism > 0: {}", p > 0);
}
