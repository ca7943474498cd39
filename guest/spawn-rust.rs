// spawn-rust: Rust's std runs a child (this program again, through
// /proc/self/exe) and collects its output the ways programs do:
// Command::output (both pipes read at once, which sets them O_NONBLOCK
// with FIONBIO and polls them), a piped stdin with wait_with_output, and
// status alone; then a program that does not exist. Prints what it got.
use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 1 && args[1] == "child" {
        println!("child stdout {}", args.len());
        eprintln!("child stderr");
        std::process::exit(3);
    }
    if args.len() > 1 && args[1] == "upper" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).unwrap();
        print!("{}", s.to_uppercase());
        return;
    }
    let me = "/proc/self/exe";
    let out = Command::new(me).arg("child").output().expect("output");
    println!("output: status {:?}", out.status.code());
    println!("  stdout {:?}", String::from_utf8_lossy(&out.stdout));
    println!("  stderr {:?}", String::from_utf8_lossy(&out.stderr));

    let big: String = (0..20000).map(|i| format!("line {}\n", i)).collect();
    let mut child = Command::new(me)
        .arg("upper")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(big.as_bytes()).unwrap());
    let got = child.wait_with_output().expect("wait_with_output");
    writer.join().unwrap();
    let text = String::from_utf8_lossy(&got.stdout);
    println!("piped: status {:?}, {} bytes, {} lines, last {:?}", got.status.code(), got.stdout.len(), text.lines().count(), text.lines().last());

    let st = Command::new(me).arg("child").stdout(Stdio::null()).stderr(Stdio::null()).status().expect("status");
    println!("status: {:?}", st.code());

    match Command::new("/nonexistent/program").output() {
        Ok(o) => println!("nonexistent: ran, {:?}", o.status),
        Err(e) => println!("nonexistent: {:?}", e.kind()),
    }
}
