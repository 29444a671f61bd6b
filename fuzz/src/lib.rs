//! What the fuzz targets share: how one fuzz input becomes the pieces a parser takes.
//!
//! Inputs are kept readable so that the seed corpora are real messages written by hand or
//! copied from the tests: an HTTP-like message is header lines (`name: value`), a blank line,
//! then the body; a list of fields is lines split on the first `\n`.

/// Splits `data` into header lines (`name: value`, lower-cased names, as the contract hands
/// headers to an adapter) and the body after the first blank line. Lines without a colon
/// are dropped; bytes that are not UTF-8 in the head are replaced, the body is kept as is.
pub fn message(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &data[data.len()..]),
    };
    let head = String::from_utf8_lossy(head);
    let headers = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (headers, body)
}

/// The first line of `data` (as text) and the rest: a selector or a parameter, then the
/// input proper.
pub fn first_line(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (
            String::from_utf8_lossy(&data[..at]).into_owned(),
            &data[at + 1..],
        ),
        None => (
            String::from_utf8_lossy(data).into_owned(),
            &data[data.len()..],
        ),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_headers_then_a_blank_line_then_the_body() {
        let (headers, body) =
            message(b"Wechatpay-Nonce: abc\nbroken line\nX: a:b\n\n{\"a\":1}\n\n");
        assert_eq!(
            headers,
            vec![
                ("wechatpay-nonce".to_owned(), "abc".to_owned()),
                ("x".to_owned(), "a:b".to_owned())
            ]
        );
        assert_eq!(body, b"{\"a\":1}\n\n");
    }
}
