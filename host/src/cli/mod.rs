//! Part of the `paygate` binary (not the library): the operator commands besides `serve`.
//! Command output goes to stdout (tables for people, `--json` for scripts), logs to stderr.

pub mod adapters;
pub mod events;
pub mod flags;
pub mod keys;
pub mod merchants;
pub mod operators;
pub mod reconcile;

/// Prints `rows` under `header`, each column as wide as its widest cell, two spaces
/// apart; `empty` when there is no row.
pub fn print_table(header: &[&str], rows: &[Vec<String>], empty: &str) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < widths.len() {
                out.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
            }
        }
        out.trim_end().to_owned()
    };
    println!("{}", line(&mut header.iter().copied()));
    for row in rows {
        println!("{}", line(&mut row.iter().map(String::as_str)));
    }
    if rows.is_empty() {
        println!("{empty}");
    }
}
