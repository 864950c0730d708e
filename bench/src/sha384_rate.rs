//! sha384-rate: how fast one core hashes with SHA-384 through keyhaven's cryptography (aws-lc), the ceiling of a
//! signed Encryption SDK message, whose signature covers every byte in order. Prints MB/s (10^6 bytes).

use keyhaven_crypto::envelope::SignatureCurve;

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let chunk = vec![0x5au8; 1 << 20];
    let mut digest = SignatureCurve::P384.digest();
    let started = std::time::Instant::now();
    for _ in 0..mib {
        digest.update(&chunk);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(digest);
    println!("{:.0}", (mib << 20) as f64 / seconds / 1e6);
}
