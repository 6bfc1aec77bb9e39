//! Cost of the sans-IO packet code: encoding a request, parsing a header and
//! judging a reply (src/proto), and what authentication adds per request and
//! per reply: a symmetric-key MAC of each type, and NTS (a request's fields
//! and authenticator; a reply's verification with its cookies). Run with
//! `cargo bench --bench proto`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use prossntp::proto::auth::{KeyType, SymmetricKey};
use prossntp::proto::nts::{server_reply, NtsSession};
use prossntp::proto::packet::{Packet, HEADER_LEN};
use prossntp::proto::timestamp::{NtpDuration, NtpShort, NtpTimestamp};
use prossntp::proto::validate::{judge, Verdict};
use prossntp::sys::time::wall_now;

/// A valid server reply to the request `nonce` sent at `t1`, 0.25 s ahead.
fn reply(nonce: NtpTimestamp, t1: NtpTimestamp) -> [u8; 48] {
    let server = t1.plus(NtpDuration::from_seconds(0.2505));
    Packet {
        stratum: 2,
        poll: 6,
        root_delay: NtpShort(0x40),
        root_dispersion: NtpShort(0x80),
        reference_id: *b"GPS\0",
        ..Packet::reply(nonce, server, server.plus(NtpDuration::from_nanos(20_000)))
    }
    .encode()
}

fn benches(c: &mut Criterion) {
    let nonce = NtpTimestamp(0x0123_4567_89ab_cdef);
    let t1 = wall_now();
    let t4 = t1.plus(NtpDuration::from_nanos(1_000_000));
    let bytes = reply(nonce, t1);
    assert!(matches!(judge(&bytes, nonce, t1, t4), Verdict::Valid(_)), "the reply must be valid");
    let mut bad_origin = bytes;
    bad_origin[31] ^= 1;

    let mut g = c.benchmark_group("proto");
    g.bench_function("request encode", |b| b.iter(|| Packet::request(black_box(nonce)).encode()));
    g.bench_function("header parse", |b| b.iter(|| Packet::parse(black_box(&bytes[..]))));
    g.bench_function("reply encode", |b| {
        let p = Packet::parse(&bytes).unwrap();
        b.iter(|| black_box(&p).encode())
    });
    g.bench_function("judge valid reply", |b| {
        b.iter(|| judge(black_box(&bytes[..]), black_box(nonce), black_box(t1), black_box(t4)))
    });
    g.bench_function("judge bad origin", |b| {
        b.iter(|| judge(black_box(&bad_origin[..]), black_box(nonce), black_box(t1), black_box(t4)))
    });
    g.bench_function("encode + parse + judge", |b| {
        b.iter(|| {
            let req = Packet::request(black_box(nonce)).encode();
            let p = Packet::parse(&req).unwrap();
            judge(black_box(&bytes[..]), p.transmit_ts, t1, t4)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("auth");
    for (kind, len) in
        [(KeyType::Md5, 20), (KeyType::Sha1, 20), (KeyType::Sha256, 32), (KeyType::Aes128, 16), (KeyType::Aes256, 32)]
    {
        let key = SymmetricKey::new(1, kind, &vec![7; len]).unwrap();
        let mut signed = bytes.to_vec();
        key.sign(&mut signed);
        g.bench_function(format!("{} sign request", kind.name()), |b| {
            b.iter(|| {
                let mut p = Packet::request(black_box(nonce)).encode().to_vec();
                key.sign(&mut p);
                p
            })
        });
        g.bench_function(format!("{} verify reply", kind.name()), |b| b.iter(|| key.verify(black_box(&signed))));
    }
    // NTS, with eight 100-byte cookies (chronyd's are about that size): a
    // request (identifier, cookie, placeholders, authenticator), and the
    // check of a reply bringing one new cookie; each on a fresh session.
    let session = || NtsSession::new(&[1; 32], &[2; 32], vec![vec![9u8; 100]; 8], [3; 32]);
    let header = Packet::request(nonce).encode();
    g.bench_function("NTS request", |b| {
        b.iter_batched(session, |mut s| s.request(black_box(&header)), BatchSize::SmallInput)
    });
    g.bench_function("NTS verify reply", |b| {
        b.iter_batched(
            || {
                let mut s = session();
                let r = s.request(&header).unwrap();
                let reply = server_reply(&[2; 32], &r, &[0x24; HEADER_LEN], &[&[5; 100]], [4; 16]).unwrap();
                (s, reply)
            },
            |(mut s, reply)| s.verify(black_box(&reply)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! { name = group; config = config(); targets = benches }
criterion_main!(group);
