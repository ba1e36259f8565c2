//! The hostile matrix's table of answers: every case, the answer it got and
//! the one it must get; printed at the end, and any difference (or a memory
//! address in an answer) fails the test.

/// Every case's answer.
#[derive(Default)]
pub struct Answers {
    /// (case, answer got, answer expected)
    rows: Vec<(String, String, String)>,
}

impl Answers {
    /// Records `case`'s answer; `got` may add detail after `expected` and a space.
    pub fn check(&mut self, case: &str, got: String, expected: &str) {
        self.rows
            .push((case.to_string(), got, expected.to_string()));
    }

    /// Prints the table and fails on any wrong answer.
    pub fn assert_all(self) {
        println!("{:<95} | response", "case");
        let mut failures = Vec::new();
        for (case, got, expected) in &self.rows {
            println!("{case:<95} | {got}");
            if got.contains("PointerOffset") || got.contains("0x7f") {
                failures.push(format!("{case}: a memory address in the answer: {got:?}"));
            }
            if got != expected && !got.starts_with(&format!("{expected} ")) {
                failures.push(format!("{case}: got {got:?}, expected {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
