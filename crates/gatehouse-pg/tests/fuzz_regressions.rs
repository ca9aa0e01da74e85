//! Inputs found by the fuzz targets in `fuzz/` (see RELIABILITY.md), kept as regression tests
//! of the masking data path against a broken or hostile server, and of COPY options a client
//! chooses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gatehouse_mask::{HashKey, MaskConfig, Masker};
use gatehouse_pg::fuzzing::{mask_copy_data, mask_result};

fn masker() -> Masker {
    Masker::new(&MaskConfig::default(), HashKey::new([7; 32])).unwrap()
}

/// A `RowDescription` of one `text` column called `email`.
fn one_text_column() -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(b"email\0");
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&25u32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body
}

fn data_row(values: &[&[u8]]) -> Vec<u8> {
    let mut body = i16::try_from(values.len()).unwrap().to_be_bytes().to_vec();
    for value in values {
        body.extend_from_slice(&i32::try_from(value.len()).unwrap().to_be_bytes());
        body.extend_from_slice(value);
    }
    body
}

/// Found by `pg_backend` (a CSV row with a quoted field followed by something other than a
/// delimiter): the row did not split into fields, and `mask_copy_row` forwarded it unscanned,
/// email and all. The same happens with a well-behaved server when the client picks COPY
/// options: `COPY (...) TO STDOUT WITH (FORMAT csv, DELIMITER ';')` quotes a value holding `;`
/// and the row no longer splits on `,`. Such rows are now refused.
#[test]
fn csv_copy_rows_that_do_not_split_are_refused_not_forwarded_unmasked() {
    let masker = masker();
    for row in [
        &b"1,\"jane.doe@example.com\"L\n"[..],
        b"1,\"jane.doe@example.comB,\n",
        b"\"a;b\";jane.doe@example.com\n",
    ] {
        let outcome = mask_copy_data(&masker, row, true);
        let refusal = outcome.expect_err("refused");
        assert!(refusal.contains("does not split into fields"), "{refusal}");
    }
    // Rows with PostgreSQL's default CSV quoting are still masked field by field.
    let masked = mask_copy_data(&masker, b"1,\"jane.doe@example.com, x\",\n", true)
        .unwrap()
        .unwrap();
    let masked = String::from_utf8(masked).unwrap();
    assert!(
        masked.starts_with("1,\"email:") && masked.ends_with(", x\",\n"),
        "{masked}"
    );
    // A custom delimiter whose rows still split (nothing needed quoting) is scanned as one field.
    let masked = mask_copy_data(&masker, b"1;jane.doe@example.com\n", true)
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8(masked).unwrap().contains("jane"));
}

/// A `DataRow` that did not decode (here: a byte after its last value) was forwarded as it
/// came, unscanned. Only a broken or hostile server sends one; it is now refused (fail closed),
/// as rows without a `RowDescription` already were. The `pg_backend` target checks that every
/// row reaching the client decodes.
#[test]
fn a_data_row_that_does_not_decode_is_refused_not_forwarded() {
    let masker = masker();
    let mut row = data_row(&[b"jane.doe@example.com"]);
    row.push(0);
    let outcomes = mask_result(&masker, &one_text_column(), &[], &[&row]).unwrap();
    let refusal = outcomes[0].as_ref().expect_err("refused");
    assert!(refusal.contains("cannot read"), "{refusal}");
}

/// A `DataRow` with more values than the `RowDescription` described: the extra values were
/// forwarded unscanned (the plan had no column for them). Now refused, as is a row with fewer.
#[test]
fn a_data_row_with_more_or_fewer_values_than_described_is_refused() {
    let masker = masker();
    let description = one_text_column();
    let more = data_row(&[b"ok", b"jane.doe@example.com"]);
    let fewer = data_row(&[]);
    let well_formed = data_row(&[b"jane.doe@example.com"]);
    let outcomes = mask_result(&masker, &description, &[], &[&more, &fewer, &well_formed]).unwrap();
    for outcome in &outcomes[..2] {
        let refusal = outcome.as_ref().expect_err("refused");
        assert!(refusal.contains("described columns"), "{refusal}");
    }
    let masked = outcomes[2].as_ref().unwrap().as_ref().expect("masked");
    assert!(!String::from_utf8_lossy(masked).contains("jane"));
}

/// A value that is not UTF-8 went out unscanned (the detectors read text): a client asking
/// for `client_encoding = 'LATIN1'` made `José jane.doe@example.com` such a value. Rows and
/// COPY rows holding one are now refused; the end-to-end test in
/// `crates/gatehouse/tests/masking.rs` covers every way of changing the encoding.
#[test]
fn values_that_are_not_utf8_are_refused_not_forwarded_unscanned() {
    let masker = masker();
    let latin1: &[u8] = b"Jos\xe9 jane.doe@example.com";
    let outcomes = mask_result(&masker, &one_text_column(), &[], &[&data_row(&[latin1])]).unwrap();
    let refusal = outcomes[0].as_ref().expect_err("refused");
    assert!(
        refusal.contains("not valid in the session's client encoding"),
        "{refusal}"
    );
    for csv in [false, true] {
        let mut row = latin1.to_vec();
        row.push(b'\n');
        let refusal = mask_copy_data(&masker, &row, csv).expect_err("refused");
        assert!(
            refusal.contains("not valid in the session's client encoding"),
            "{refusal}"
        );
    }
    // UTF-8 with the same letters is masked as usual.
    let outcomes = mask_result(
        &masker,
        &one_text_column(),
        &[],
        &[&data_row(&["José jane.doe@example.com".as_bytes()])],
    )
    .unwrap();
    let masked = outcomes[0].as_ref().unwrap().as_ref().expect("masked");
    assert!(!String::from_utf8_lossy(masked).contains("jane"));
}
