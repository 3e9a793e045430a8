//! Request decoding: any bytes, as the body of every request the API takes, through the path its
//! handlers decode bodies with (the JSON depth check, parsing, the typed fields, the bounds).
//! Decoding may refuse a body; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The daemon's default `server.max_json_depth`.
const MAX_DEPTH: usize = 32;

fuzz_target!(|data: &[u8]| {
    switchyard::api::fuzzing::decode_every_body(data, MAX_DEPTH);
});
