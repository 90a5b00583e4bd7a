//! A table of several columns (`secrets list`, `audit list`, `approval list`, `operator
//! members`), laid out as the `vault` CLI lays them out: a header, a line of dashes under each
//! header, columns padded to their widest cell and four spaces apart.

/// Print `rows` under `headers`.
pub fn print_columns(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render(headers, rows));
}

/// The table as text, one line per row, each ending in `\n`.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| -> String {
        let mut out = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                // No padding after the last column.
                out.push_str(&cell);
            } else {
                let pad = width.saturating_sub(cell.chars().count()) + 4;
                out.push_str(&cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().map(|h| (*h).to_owned()));
    out.push_str(&line(&mut headers.iter().map(|h| "-".repeat(h.len()))));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_the_widest_cell() {
        let text = render(
            &["Path", "Type"],
            &[vec!["database/".into(), "database".into()]],
        );
        assert_eq!(
            text,
            "Path         Type\n----         ----\ndatabase/    database\n"
        );
    }
}
