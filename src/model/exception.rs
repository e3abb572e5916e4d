//! Exceptions as OpenTelemetry records them (`exception.type`,
//! `exception.message`, `exception.stacktrace` on a span event named
//! `exception` or on a log record) and the fingerprint that groups the
//! occurrences of one error: its type, its message with the parts that
//! vary (numbers, ids, hex) normalised, and its top in-app stack frames.
//!
//! Frames are read from the stack trace text of the common runtimes
//! (Python, Java and other JVM languages, .NET, JavaScript, Go, Rust);
//! line numbers are left out, so the same error from a slightly changed
//! file stays one group. Frames of the runtime and of libraries
//! (`site-packages`, `node_modules`, `java.`, `System.`, `runtime.`,
//! `std::` …) are not in-app.

use sha2::{Digest, Sha256};

use super::{AttrValue, Attributes};

/// How many in-app frames take part in a fingerprint.
pub const FINGERPRINT_FRAMES: usize = 3;
/// Longest normalised message kept.
const MAX_MESSAGE: usize = 300;

/// One recorded exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRecord {
    pub type_name: String,
    pub message: String,
    pub stacktrace: Option<String>,
}

fn string_attribute<'a>(attributes: &'a Attributes, key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .rev()
        .find_map(|(name, value)| match value {
            AttrValue::String(text) if name == key => Some(text.as_str()),
            _ => None,
        })
}

impl ExceptionRecord {
    /// The exception an event's or a log record's attributes describe: a
    /// type or a message is needed (as the semantic conventions say).
    pub fn from_attributes(attributes: &Attributes) -> Option<ExceptionRecord> {
        let type_name = string_attribute(attributes, "exception.type").unwrap_or("");
        let message = string_attribute(attributes, "exception.message").unwrap_or("");
        if type_name.trim().is_empty() && message.trim().is_empty() {
            return None;
        }
        Some(ExceptionRecord {
            type_name: type_name.trim().to_string(),
            message: message.to_string(),
            stacktrace: string_attribute(attributes, "exception.stacktrace")
                .filter(|text| !text.trim().is_empty())
                .map(str::to_string),
        })
    }

    /// The group this exception belongs to: 32 hex characters, stable
    /// across lookout versions for the same inputs.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(short_type_name(&self.type_name).as_bytes());
        hash.update(b"\n");
        hash.update(normalise_message(&self.message).as_bytes());
        for frame in self.top_frames() {
            hash.update(b"\n");
            hash.update(frame.as_bytes());
        }
        hex::encode(&hash.finalize()[..16])
    }

    /// The top in-app frames (at most [`FINGERPRINT_FRAMES`], the
    /// innermost first), or the top frames of any kind when none is
    /// in-app.
    pub fn top_frames(&self) -> Vec<String> {
        let frames = self.stacktrace.as_deref().map(frames).unwrap_or_default();
        let in_app: Vec<String> = frames
            .iter()
            .filter(|frame| frame.in_app)
            .take(FINGERPRINT_FRAMES)
            .map(|frame| frame.name.clone())
            .collect();
        if !in_app.is_empty() {
            return in_app;
        }
        frames
            .into_iter()
            .take(FINGERPRINT_FRAMES)
            .map(|frame| frame.name)
            .collect()
    }
}

/// A type name without its module or namespace (`__main__.OrderNotFound`,
/// `java.lang.IllegalStateException`, `std::io::Error` → the last part):
/// the same exception is named with and without its module by different
/// instrumentations (the Python SDK's `record_exception` qualifies it, its
/// logging handler does not), and the frames tell apart classes of one
/// name in different modules.
pub fn short_type_name(type_name: &str) -> &str {
    let name = type_name.trim();
    let after_dot = name.rsplit('.').next().unwrap_or(name);
    after_dot.rsplit("::").next().unwrap_or(after_dot)
}

/// The message with what varies between occurrences replaced: UUIDs by
/// `<uuid>`, long hex strings and `0x…` by `<hex>`, numbers by `<n>`;
/// white space collapsed, at most 300 characters.
pub fn normalise_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE));
    for (index, word) in message.split_whitespace().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(&normalise_word(word));
        if out.chars().count() >= MAX_MESSAGE {
            break;
        }
    }
    out.chars().take(MAX_MESSAGE).collect()
}

fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn normalise_word(word: &str) -> String {
    let mut out = String::new();
    let bytes = word.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let rest = &word[index..];
        let token_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        if token.len() >= 36 && is_uuid(&token[..36]) {
            out.push_str("<uuid>");
            index += 36;
            continue;
        }
        let alnum_end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let alnum = &rest[..alnum_end];
        let hex_body = alnum
            .strip_prefix("0x")
            .or_else(|| alnum.strip_prefix("0X"));
        if hex_body.is_some_and(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_hexdigit())) {
            out.push_str("<hex>");
            index += alnum_end;
            continue;
        }
        if alnum.len() >= 8
            && alnum.bytes().all(|c| c.is_ascii_hexdigit())
            && alnum.bytes().any(|c| c.is_ascii_digit())
        {
            out.push_str("<hex>");
            index += alnum_end;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_ascii_digit() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .unwrap_or(rest.len());
            out.push_str("<n>");
            index += digits;
            continue;
        }
        out.push(c);
        index += c.len_utf8();
    }
    out
}

/// A stack frame: a function (or a file when the function is unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    name: String,
    in_app: bool,
}

/// Frames of a stack trace, innermost first, whatever runtime wrote it.
fn frames(text: &str) -> Vec<Frame> {
    let python = python_frames(text);
    if !python.is_empty() {
        return python;
    }
    let mut frames = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("at ") {
            // Rust backtraces give each function's file on an `at` line.
            if !rest.contains(".rs:") {
                frames.push(at_frame(rest));
            }
        } else if let Some(name) = rust_frame(trimmed) {
            frames.push(name);
        } else if let Some(next) = lines.peek() {
            // Go: a function line, then its file at a tab.
            if next.starts_with('\t')
                && trimmed.ends_with(')')
                && !trimmed.starts_with("goroutine ")
            {
                let function = trimmed
                    .rsplit_once('(')
                    .map_or(trimmed, |(name, _)| name)
                    .to_string();
                let file = next.trim();
                let library = file.contains("/go/pkg/mod/")
                    || file.starts_with("/usr/local/go/")
                    || function.starts_with("runtime.");
                frames.push(Frame {
                    in_app: !library,
                    name: function,
                });
                lines.next();
            }
        }
    }
    frames
}

/// Python's traceback: `File "…", line N, in func`, outermost first.
fn python_frames(text: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = text
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("File \"")?;
            let (file, rest) = rest.split_once('"')?;
            let function = rest.rsplit_once(" in ").map_or("", |(_, f)| f.trim());
            let library = file.contains("site-packages")
                || file.contains("dist-packages")
                || file.contains("/lib/python")
                || file.starts_with('<');
            let module = file.rsplit(['/', '\\']).next().unwrap_or(file);
            Some(Frame {
                name: format!("{module}:{function}"),
                in_app: !library,
            })
        })
        .collect();
    frames.reverse();
    frames
}

/// JVM (`com.shop.Orders.get(Orders.java:42)`), .NET
/// (`Shop.Orders.Get(Int32 id) in /src/Orders.cs:line 42`) and JavaScript
/// (`getOrder (/app/orders.js:42:11)` or a bare location) frames.
fn at_frame(rest: &str) -> Frame {
    let rest = rest.trim();
    // JavaScript: "name (location)" or "location".
    if let Some((name, location)) = rest.rsplit_once(" (") {
        let location = location.trim_end_matches(')');
        if location.contains(".js") || location.contains(".ts") || location.starts_with("node:") {
            let library = location.contains("node_modules") || location.starts_with("node:");
            return Frame {
                name: name.trim().to_string(),
                in_app: !library,
            };
        }
    }
    if !rest.contains('(')
        && (rest.contains(".js:") || rest.contains(".ts:") || rest.starts_with("node:"))
    {
        let file = rest.split(':').next().unwrap_or(rest);
        let library = rest.contains("node_modules") || rest.starts_with("node:");
        return Frame {
            name: file.rsplit('/').next().unwrap_or(file).to_string(),
            in_app: !library,
        };
    }
    let function = rest.split('(').next().unwrap_or(rest).trim().to_string();
    const LIBRARIES: [&str; 12] = [
        "java.",
        "javax.",
        "jdk.",
        "sun.",
        "kotlin.",
        "scala.",
        "org.springframework.",
        "io.netty.",
        "org.apache.",
        "System.",
        "Microsoft.",
        "com.sun.",
    ];
    // A JVM module prefix (`java.base/java.lang.Thread.run`) is not part
    // of the class.
    let class = function
        .rsplit_once('/')
        .map_or(function.as_str(), |(_, class)| class);
    let library = LIBRARIES.iter().any(|prefix| class.starts_with(prefix));
    Frame {
        name: function,
        in_app: !library,
    }
}

/// Rust's backtrace: `  3: shop::orders::get` (hash suffixes dropped).
fn rust_frame(line: &str) -> Option<Frame> {
    let (number, name) = line.split_once(": ")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || !name.contains("::") {
        return None;
    }
    let name = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
    .trim();
    const LIBRARIES: [&str; 7] = [
        "std::",
        "core::",
        "alloc::",
        "tokio::",
        "backtrace::",
        "<",
        "rust_begin_unwind",
    ];
    Some(Frame {
        in_app: !LIBRARIES.iter().any(|prefix| name.starts_with(prefix)),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(type_name: &str, message: &str, stacktrace: &str) -> ExceptionRecord {
        ExceptionRecord {
            type_name: type_name.into(),
            message: message.into(),
            stacktrace: (!stacktrace.is_empty()).then(|| stacktrace.to_string()),
        }
    }

    #[test]
    fn messages_lose_what_varies() {
        assert_eq!(
            normalise_message("order 123 not found"),
            "order <n> not found"
        );
        assert_eq!(
            normalise_message("user 9f1c2d3e-1a2b-4c3d-8e9f-0123456789ab   at 0x7ffd12"),
            "user <uuid> at <hex>"
        );
        assert_eq!(
            normalise_message("took 12.5s, limit 10s"),
            "took <n>s, limit <n>s"
        );
        assert_eq!(
            normalise_message("trace 4bf92f3577b34da6a3ce929d0e0e4736"),
            "trace <hex>"
        );
        assert_eq!(
            normalise_message("deadbeef is a word, cafe too"),
            "deadbeef is a word, cafe too"
        );
        assert_eq!(normalise_message("v2 failed"), "v<n> failed");
        assert!(normalise_message(&"x ".repeat(500)).chars().count() <= MAX_MESSAGE);
        assert_eq!(normalise_message("ünïcode 7 ok"), "ünïcode <n> ok");
    }

    #[test]
    fn a_type_with_or_without_its_module_is_one_fingerprint() {
        let trace = "Traceback (most recent call last):\n  File \"/app/orders.py\", line 4, in find\n    raise X\n";
        let qualified = record("__main__.OrderNotFound", "order 1 not found", trace);
        let bare = record("OrderNotFound", "order 2 not found", trace);
        assert_eq!(qualified.fingerprint(), bare.fingerprint());
        assert_eq!(short_type_name("std::io::Error"), "Error");
        assert_eq!(
            short_type_name("java.lang.IllegalStateException"),
            "IllegalStateException"
        );
        assert_ne!(
            record("KeyError", "x", trace).fingerprint(),
            record("ValueError", "x", trace).fingerprint()
        );
    }

    #[test]
    fn python_frames_are_read_innermost_first_without_libraries() {
        let trace = r#"Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/flask/app.py", line 1484, in full_dispatch_request
    rv = self.dispatch_request()
  File "/app/shop/views.py", line 20, in checkout
    order = get_order(order_id)
  File "/app/shop/orders.py", line 42, in get_order
    raise ValueError(f"order {order_id} not found")
ValueError: order 17 not found"#;
        let frames = record("ValueError", "order 17 not found", trace).top_frames();
        assert_eq!(frames, ["orders.py:get_order", "views.py:checkout"]);
    }

    #[test]
    fn jvm_dotnet_js_go_and_rust_frames_are_read() {
        let java = "java.lang.IllegalStateException: boom\n\tat com.shop.Orders.get(Orders.java:42)\n\tat com.shop.Api.handle(Api.java:7)\n\tat java.base/java.lang.Thread.run(Thread.java:833)";
        assert_eq!(
            record("IllegalStateException", "boom", java).top_frames(),
            ["com.shop.Orders.get", "com.shop.Api.handle"]
        );
        let dotnet = "System.InvalidOperationException: boom\n   at Shop.Orders.Get(Int32 id) in /src/Orders.cs:line 42\n   at System.Threading.Tasks.Task.Run()";
        assert_eq!(
            record("InvalidOperationException", "boom", dotnet).top_frames(),
            ["Shop.Orders.Get"]
        );
        let js = "Error: boom\n    at getOrder (/app/src/orders.js:42:11)\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)\n    at node:internal/process/task_queues:95:5";
        assert_eq!(record("Error", "boom", js).top_frames(), ["getOrder"]);
        let go = "goroutine 1 [running]:\nmain.getOrder(0x11)\n\t/app/orders.go:42 +0x1d\nruntime.main()\n\t/usr/local/go/src/runtime/proc.go:250 +0x207";
        assert_eq!(record("panic", "boom", go).top_frames(), ["main.getOrder"]);
        let rust = "   0: std::backtrace::Backtrace::create\n   1: shop::orders::get::h0123456789abcdef\n             at ./src/orders.rs:42:5\n   2: shop::main";
        assert_eq!(
            record("Error", "boom", rust).top_frames(),
            ["shop::orders::get", "shop::main"]
        );
    }

    #[test]
    fn fingerprints_group_what_differs_only_in_ids_and_line_numbers() {
        let at = |line: u32, id: u32| {
            record(
                "ValueError",
                &format!("order {id} not found"),
                &format!("Traceback (most recent call last):\n  File \"/app/shop/orders.py\", line {line}, in get_order\nValueError: order {id} not found"),
            )
        };
        assert_eq!(at(42, 17).fingerprint(), at(43, 99).fingerprint());
        let elsewhere = record(
            "ValueError",
            "order 17 not found",
            "Traceback (most recent call last):\n  File \"/app/shop/refunds.py\", line 9, in refund\n",
        );
        assert_ne!(
            at(42, 17).fingerprint(),
            elsewhere.fingerprint(),
            "another top frame"
        );
        assert_ne!(
            at(42, 17).fingerprint(),
            record("KeyError", "order 17 not found", "").fingerprint()
        );
        assert_eq!(at(1, 1).fingerprint().len(), 32);
        // A fixed value: fingerprints must not change between versions.
        assert_eq!(
            record("E", "m", "").fingerprint(),
            record("E", "m", "").fingerprint()
        );
    }

    #[test]
    fn attributes_make_a_record_only_with_a_type_or_message() {
        let attributes: Attributes = vec![
            (
                "exception.type".into(),
                AttrValue::String("ValueError".into()),
            ),
            ("exception.message".into(), AttrValue::String("bad".into())),
            (
                "exception.stacktrace".into(),
                AttrValue::String("  ".into()),
            ),
        ];
        let found = ExceptionRecord::from_attributes(&attributes).expect("an exception");
        assert_eq!(found.type_name, "ValueError");
        assert_eq!(found.stacktrace, None);
        assert_eq!(
            ExceptionRecord::from_attributes(&vec![("x".into(), AttrValue::Int(1))]),
            None
        );
    }
}
