//! What a viewer's request to the outputs holds that Waveguide parses
//! itself: an HLS playlist request's query (the LL-HLS delivery directives
//! and the token) and a recording's id. Input: the query on the first line,
//! the id after it.
#![no_main]

use std::path::{Component, Path};

use waveguide::outputs::hls::query;
use waveguide::outputs::recording::file_of_id;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query_text, id) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(directives) = query::parse(Some(query_text)) {
        if let Some(token) = &directives.token {
            assert!(token.len() <= query::MAX_TOKEN_BYTES);
        }
    }
    let dir = Path::new("/recordings");
    if let Some(file) = file_of_id(dir, id) {
        let rest = file.strip_prefix(dir).expect("under the dir");
        let parts: Vec<Component<'_>> = rest.components().collect();
        assert_eq!(parts.len(), 2, "<channel>/<file>: {file:?}");
        assert!(
            parts
                .iter()
                .all(|part| matches!(part, Component::Normal(_)))
        );
    }
});
