//! The HTTP and SDP part of the hostile matrix, against the witness's own
//! channel: bad bodies, types and SDP, unknown and foreign resources, wrong
//! keys, and resource ids that must be 128-bit and distinct.

use std::net::SocketAddr;

use crate::answers::Answers;
use crate::common::clients;
use crate::common::http::request;
use crate::common::witness::dummy_secret;

/// Sends each HTTP case to the node at `http` and records its answer.
pub fn check(http: SocketAddr, answers: &mut Answers) {
    let (_, good_offer) = clients::viewer();
    let (_, vp8_offer) = clients::vp8_viewer();
    let sdp = [("Content-Type", "application/sdp")];
    let huge_sdp = format!(
        "{good_offer}{}",
        "a=x-junk:0123456789abcdef\r\n".repeat(2000)
    );
    let status = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let response = request(http, method, path, headers, body);
        format!("{} {}", response.status, response.body.trim())
    };
    let whip_auth = format!("Bearer 1-{}", dummy_secret("1"));
    let http_cases: Vec<(&str, String, &str)> = vec![
        (
            "WHIP POST with no body",
            status(
                "POST",
                "/whip/endpoint/9",
                &[("Authorization", &format!("Bearer 9-{}", dummy_secret("9")))],
                b"",
            ),
            "400 the body must be an SDP offer",
        ),
        (
            "WHEP POST with an oversized body (100 KiB)",
            status("POST", "/whep/endpoint/1", &sdp, &vec![b'a'; 100 * 1024]),
            "413",
        ),
        (
            "WHEP POST with a garbage body",
            status("POST", "/whep/endpoint/1", &sdp, b"\x01\x02garbage"),
            "400 invalid SDP offer: not well-formed SDP",
        ),
        (
            "WHEP POST with the wrong content type",
            status(
                "POST",
                "/whep/endpoint/1",
                &[("Content-Type", "text/plain")],
                good_offer.as_bytes(),
            ),
            "415",
        ),
        (
            "WHEP POST: SDP with no media",
            status(
                "POST",
                "/whep/endpoint/1",
                &sdp,
                b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
            ),
            "400",
        ),
        (
            "WHEP POST: SDP with no H.264",
            status("POST", "/whep/endpoint/1", &sdp, vp8_offer.as_bytes()),
            "406",
        ),
        (
            "WHEP POST: a 58 KiB SDP",
            status("POST", "/whep/endpoint/1", &sdp, huge_sdp.as_bytes()),
            "201",
        ),
        (
            "WHEP POST to an unknown channel",
            status("POST", "/whep/endpoint/404404", &sdp, good_offer.as_bytes()),
            "404",
        ),
        (
            "WHIP POST with a wrong key",
            status(
                "POST",
                "/whip/endpoint/1",
                &[
                    ("Content-Type", "application/sdp"),
                    ("Authorization", "Bearer 1-wrong"),
                ],
                good_offer.as_bytes(),
            ),
            "401 invalid stream key",
        ),
        (
            "WHIP POST over the live witness, right key",
            status(
                "POST",
                "/whip/endpoint/1",
                &[
                    ("Content-Type", "application/sdp"),
                    ("Authorization", &whip_auth),
                ],
                good_offer.as_bytes(),
            ),
            "409",
        ),
        (
            "DELETE of an unknown WHEP resource",
            status(
                "DELETE",
                "/whep/resource/0123456789abcdef0123456789abcdef",
                &[],
                b"",
            ),
            "404",
        ),
        (
            "DELETE of a malformed WHEP resource id",
            status("DELETE", "/whep/resource/..%2f..%2fetc", &[], b""),
            "404",
        ),
        (
            "PATCH of an unknown WHEP resource",
            status(
                "PATCH",
                "/whep/resource/0123456789abcdef0123456789abcdef",
                &sdp,
                good_offer.as_bytes(),
            ),
            "404",
        ),
        (
            "DELETE of an unknown WHIP resource",
            status(
                "DELETE",
                "/whip/resource/0123456789abcdef0123456789abcdef",
                &[],
                b"",
            ),
            "404",
        ),
    ];
    for (case, got, expected) in http_cases {
        answers.check(&format!("HTTP: {case}"), got, expected);
    }
    // A WHEP resource named on the WHIP path belongs to another kind of session.
    let viewer = request(
        http,
        "POST",
        "/whep/endpoint/1",
        &sdp,
        good_offer.as_bytes(),
    );
    let location = viewer.header("location").unwrap_or_default().to_string();
    let another = request(
        http,
        "POST",
        "/whep/endpoint/1",
        &sdp,
        good_offer.as_bytes(),
    );
    let another = another.header("location").unwrap_or_default().to_string();
    let ids: Vec<&str> = [&location, &another]
        .iter()
        .filter_map(|l| l.strip_prefix("/whep/resource/"))
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    answers.check(
        "HTTP: resource ids of two viewers",
        format!(
            "128-bit hex: {}, distinct: {}",
            ids.len() == 2,
            ids.first() != ids.get(1)
        ),
        "128-bit hex: true, distinct: true",
    );
    let foreign = location.replace("/whep/", "/whip/");
    answers.check(
        "HTTP: DELETE of a viewer's resource through the WHIP path",
        status("DELETE", &foreign, &[], b""),
        "404",
    );
    answers.check(
        "HTTP: DELETE of that viewer, its own path",
        status("DELETE", &location, &[], b""),
        "200",
    );
}
