//! Where results go: JSON to stdout or to a new file, and aligned text tables.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Pretty JSON followed by a newline.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("encoding the output as JSON")?;
    text.push('\n');
    Ok(text)
}

/// Write `value` as JSON to `out`, a file that must not exist yet, or to stdout.
pub fn write_json<T: Serialize + ?Sized>(value: &T, out: Option<&Path>) -> Result<()> {
    let text = to_json(value)?;
    match out {
        Some(path) => write_new_file(path, text.as_bytes()),
        None => print_stdout(&text),
    }
}

/// Create `path` and write `bytes`, refusing to replace an existing file.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = path.display();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                anyhow::anyhow!("--out {shown} already exists; refusing to overwrite it")
            } else {
                anyhow::Error::new(e).context(format!("creating --out {shown}"))
            }
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing --out {shown}"))
}

/// Print to stdout; a closed pipe (`cairn … | head`) is not an error worth a panic.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Print `value` as JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    print_stdout(&to_json(value)?)
}

/// Lay out rows as columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned(), "x".to_owned()],
            vec!["long".to_owned(), "22".to_owned(), "y y".to_owned()],
        ];
        let text = table(&["name", "n", "doc"], &rows);
        assert_eq!(text, "NAME  N   DOC\na     1   x\nlong  22  y y\n");
    }
}
