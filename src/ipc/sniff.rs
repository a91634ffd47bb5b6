//! What a source that is not Arrow IPC looks like, from its first bytes:
//! the error for a Feather version 1, ORC, compressed or text file (or
//! Parquet on a pipe) names it and says what to do, instead of reporting a broken IPC message.

/// A description of `head` (the first bytes of a source that is not an
/// Arrow IPC file) with the next step, if it is a format mapmean can name.
/// The commands it suggests name the source as `PATH`; [`describe_source`]
/// puts the source's own name there.
pub(crate) fn describe(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PAR1") {
        return Some(
            "this is a Parquet file (it starts with PAR1); Parquet needs random access, so mapmean reads it \
             from a file (or a shm:// segment), not from a pipe or standard input: save it to a file and pass \
             the file's path",
        );
    }
    if head.starts_with(b"FEA1") {
        return Some(
            "this is a Feather version 1 file; mapmean reads Feather version 2 (Arrow IPC). Convert it with \
             pyarrow: pyarrow.feather.write_feather(pyarrow.feather.read_table(PATH), \"out.arrow\", \
             compression=\"uncompressed\")",
        );
    }
    if head.starts_with(b"ORC") {
        return Some(
            "this is an ORC file; mapmean reads Arrow IPC files and streams. Convert it with pyarrow: \
             pyarrow.feather.write_feather(pyarrow.orc.read_table(PATH), \"out.arrow\", compression=\"uncompressed\")",
        );
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some("this is gzip-compressed data; decompress it first (gunzip, or gzip -dc FILE | mapmean mean -)");
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some("this is zstd-compressed data; decompress it first (zstd -d, or zstd -dc FILE | mapmean mean -)");
    }
    if looks_like_text(head) {
        return Some(
            "this looks like text (CSV or JSON?), not Arrow IPC; read it with pyarrow (pyarrow.csv.read_csv(PATH)) \
             and write it as Arrow IPC: pyarrow.feather.write_feather(table, \"out.arrow\", compression=\"uncompressed\")",
        );
    }
    None
}

/// [`describe`], with `PATH` in the suggested commands replaced by the
/// source's name (a file path; standard input, `-`, keeps `PATH`).
pub(crate) fn describe_source(head: &[u8], source_name: &str) -> Option<String> {
    let what = describe(head)?;
    Some(if source_name == "-" {
        what.to_string()
    } else {
        what.replace("PATH", &format!("{source_name:?}"))
    })
}

/// Whether the first (up to 512) bytes are printable UTF-8 text: no control
/// characters besides tab, newline and carriage return. An Arrow IPC stream
/// starts with `0xFFFFFFFF` (or, before format 0.15, a little-endian
/// message length, whose high bytes are zero), so it never looks like text.
fn looks_like_text(head: &[u8]) -> bool {
    let head = &head[..head.len().min(512)];
    if head.len() < 4 {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A character cut at the end of the sample is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_and_ipc_is_not() {
        assert!(describe(b"PAR1....PAR1").unwrap().contains("Parquet"));
        assert!(describe(b"FEA1....").unwrap().contains("Feather version 1"));
        assert!(describe(b"ORC\x0a\x03").unwrap().contains("ORC"));
        assert!(describe(&[0x1f, 0x8b, 8, 0]).unwrap().contains("gzip"));
        assert!(describe(&[0x28, 0xb5, 0x2f, 0xfd, 0])
            .unwrap()
            .contains("zstd"));
        assert!(describe(b"garbage\n").unwrap().contains("text"));
        assert!(describe("größe,x\n1,2\n".as_bytes())
            .unwrap()
            .contains("text"));
        // A continuation marker, a legacy length, binary junk, too little.
        assert_eq!(describe(&[0xff, 0xff, 0xff, 0xff, 0xa8, 0, 0, 0]), None);
        assert_eq!(describe(&[0xa8, 0, 0, 0, 0x10, 0]), None);
        assert_eq!(describe(&[0x00, 0x01, 0x02, 0x03, 0x04]), None);
        assert_eq!(describe(b"ab"), None);
    }

    #[test]
    fn the_source_is_named_in_the_suggested_command() {
        let text = describe_source(b"ORC\x0a\x03", "t.orc").unwrap();
        assert!(text.contains("read_table(\"t.orc\")"), "{text}");
        assert!(describe_source(b"ORC\x0a\x03", "-")
            .unwrap()
            .contains("read_table(PATH)"));
    }
}
