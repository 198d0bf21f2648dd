// rust: an ordinary Rust program on std (Debian's rustc, -C target-feature=+crt-static: glibc,
// static) that prints a deterministic transcript: threads with a Mutex, an mpsc channel and a
// panicking thread caught at join; HashMap word counts; std::fs in /tmp (create_dir_all, write,
// read, copy, which sets the copy's permissions with fchmod, metadata, read_dir, rename, remove);
// with the input "exit", std::process::exit(42) after the files; with "panic", a panic in main
// (its message on stdout through dup2, so the transcript holds it; status 101). The build runs
// it natively and the scenario requires the same bytes and status from the personality.
// Invariant: every line printed depends only on what the calls return (maps are printed sorted).
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
}

fn threads() {
    let counter = Arc::new(Mutex::new(0u64));
    let (sender, receiver) = mpsc::channel();
    let mut handles = Vec::new();
    for part in 0..4u64 {
        let counter = Arc::clone(&counter);
        let sender = sender.clone();
        handles.push(thread::spawn(move || {
            let mut sum = 0u64;
            for i in (part * 25_000)..((part + 1) * 25_000) {
                sum = sum.wrapping_add(i * i % 1_000_003);
                if i % 1000 == 0 {
                    *counter.lock().unwrap() += 1;
                }
            }
            sender.send((part, sum)).unwrap();
        }));
    }
    drop(sender);
    for handle in handles {
        handle.join().unwrap();
    }
    let mut sums: Vec<(u64, u64)> = receiver.iter().collect();
    sums.sort();
    for (part, sum) in &sums {
        println!("part {} sum {}", part, sum);
    }
    println!("counter {}", *counter.lock().unwrap());
    let caught = thread::spawn(|| {
        if std::env::args().count() < 100 {
            panic!("in a thread");
        }
    })
    .join();
    println!("thread panic caught {}", caught.is_err());
}

fn words() {
    let text = "the quick brown fox jumps over the lazy dog the fox";
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let line: Vec<String> = sorted.iter().map(|(word, count)| format!("{}={}", word, count)).collect();
    println!("words {}", line.join(" "));
    let big: HashMap<u32, u32> = (0..10_000u32).map(|i| (i, i.wrapping_mul(2_654_435_761))).collect();
    let total: u64 = big.values().map(|&v| u64::from(v % 1000)).sum();
    println!("map entries {} total {} get {:?}", big.len(), total, big.get(&12_345));
}

fn files() -> std::io::Result<()> {
    fs::create_dir_all("/tmp/rust/a/b")?;
    fs::write("/tmp/rust/a/b/source.txt", "hello from rust\nsecond line\n")?;
    fs::set_permissions("/tmp/rust/a/b/source.txt", fs::Permissions::from_mode(0o640))?;
    let copied = fs::copy("/tmp/rust/a/b/source.txt", "/tmp/rust/copy.txt")?;
    println!("copied {} bytes", copied);
    let text = fs::read_to_string("/tmp/rust/copy.txt")?;
    print!("copy says: {}", text);
    let metadata = fs::metadata("/tmp/rust/copy.txt")?;
    println!("copy len {} mode {:o} file {}", metadata.len(), metadata.permissions().mode() & 0o7777, metadata.is_file());
    let mut file = fs::OpenOptions::new().append(true).open("/tmp/rust/copy.txt")?;
    writeln!(file, "appended")?;
    drop(file);
    fs::rename("/tmp/rust/copy.txt", "/tmp/rust/moved.txt")?;
    println!("moved lines {}", fs::read_to_string("/tmp/rust/moved.txt")?.lines().count());
    let mut names: Vec<String> = fs::read_dir("/tmp/rust")?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    println!("dir {}", names.join(","));
    match fs::read("/tmp/rust/missing") {
        Ok(_) => println!("missing read?"),
        Err(error) => println!("missing {:?}", error.kind()),
    }
    match fs::write("/etc/rust", "x") {
        Ok(_) => println!("etc written?"),
        Err(error) => println!("etc write {}", error.raw_os_error().map_or(0, |e| if e == 30 || e == 13 { 1 } else { e })),
    }
    fs::remove_file("/tmp/rust/moved.txt")?;
    fs::remove_dir_all("/tmp/rust")?;
    println!("removed {}", fs::metadata("/tmp/rust").is_err());
    Ok(())
}

fn main() {
    let mut mode = String::new();
    std::io::stdin().read_line(&mut mode).unwrap();
    let mode = mode.trim();
    if mode == "panic" {
        println!("about to panic");
        // The panic message goes to stderr; make stderr the transcript.
        unsafe { dup2(1, 2) };
        let values: Vec<u32> = vec![1, 2, 3];
        let index = values.len() + std::env::args().count();
        println!("value {}", values[index]);
    }
    if mode != "exit" {
        threads();
        words();
    }
    if let Err(error) = files() {
        println!("files failed: {}", error);
        std::process::exit(3);
    }
    if mode == "exit" {
        println!("exiting with 42");
        std::process::exit(42);
    }
}
