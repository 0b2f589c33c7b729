//! SHA-256 against the standard's test vectors and across the 1 MiB read boundary.

use diffmac_io::{sha256_file, sha256_hex};

#[test]
fn known_digests() {
    // FIPS 180-2 examples.
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn files_hash_like_their_bytes_across_read_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i * 31 % 251) as u8).collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(sha256_file(&path).unwrap(), sha256_hex(&bytes));
    let err = sha256_file(&dir.path().join("absent.bin")).unwrap_err();
    assert!(err.to_string().contains("absent.bin"), "{err}");
}
