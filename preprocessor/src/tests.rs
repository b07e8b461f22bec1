use super::*;

fn first_error(content: &str) -> DirectiveError {
    match process(content) {
        Ok(out) => panic!("expected an error, got output:\n{out}"),
        Err(errors) => errors[0].clone(),
    }
}

#[test]
fn widget_becomes_placeholder_with_full_config() {
    let out = process("intro\n{{#widget token-bucket capacity=7}}\n").unwrap();

    assert!(out.contains("data-widget=\"token-bucket\""), "{out}");
    assert!(out.contains("&quot;capacity&quot;:7"), "{out}");
    assert!(out.contains("&quot;refill_per_s&quot;:1.0"), "{out}");
}

#[test]
fn widget_seed_becomes_data_attribute() {
    let out = process("{{#widget token-bucket seed=42}}\n").unwrap();

    assert!(out.contains("data-seed=\"42\""), "{out}");
}

#[test]
fn unknown_widget_names_the_known_ones() {
    let err = first_error("\n\n{{#widget token-buckets}}\n");

    assert_eq!((err.line, err.column), (3, 1));
    assert!(
        err.reason.contains("unknown widget `token-buckets`"),
        "{}",
        err.reason
    );
    assert!(err.reason.contains("token-bucket"), "{}", err.reason);
}

#[test]
fn unknown_parameter_is_rejected() {
    let err = first_error("{{#widget token-bucket capacty=5}}\n");

    assert!(
        err.reason.contains("unknown field `capacty`"),
        "{}",
        err.reason
    );
}

#[test]
fn wrong_type_is_rejected() {
    let err = first_error("{{#widget token-bucket capacity=five}}\n");

    assert!(
        err.reason.contains("invalid type: string \"five\""),
        "{}",
        err.reason
    );
}

#[test]
fn nan_is_rejected_as_a_string() {
    let err = first_error("{{#widget token-bucket refill_per_s=NaN}}\n");

    assert!(
        err.reason.contains("invalid type: string \"NaN\""),
        "{}",
        err.reason
    );
}

#[test]
fn out_of_range_value_is_rejected() {
    let err = first_error("{{#widget token-bucket capacity=0}}\n");

    assert!(
        err.reason.contains("invalid `capacity`: 0 is out of range"),
        "{}",
        err.reason
    );
}

#[test]
fn negative_rate_is_rejected() {
    let err = first_error("{{#widget token-bucket refill_per_s=-1}}\n");

    assert!(
        err.reason.contains("invalid `refill_per_s`"),
        "{}",
        err.reason
    );
}

#[test]
fn unclosed_directive_is_rejected() {
    let err = first_error("text {{#widget token-bucket capacity=5\n");

    assert_eq!((err.line, err.column), (1, 6));
    assert!(
        err.reason.starts_with("unclosed directive"),
        "{}",
        err.reason
    );
}

#[test]
fn malformed_parameter_is_rejected() {
    let err = first_error("{{#widget token-bucket capacity}}\n");

    assert!(
        err.reason.contains("malformed parameter `capacity`"),
        "{}",
        err.reason
    );
}

#[test]
fn missing_widget_name_is_rejected() {
    let err = first_error("{{#widget}}\n");

    assert!(err.reason.contains("needs a widget name"), "{}", err.reason);
}

#[test]
fn duplicate_parameter_is_rejected() {
    let err = first_error("{{#widget token-bucket capacity=5 capacity=6}}\n");

    assert!(err.reason.contains("given twice"), "{}", err.reason);
}

#[test]
fn every_bad_directive_is_reported() {
    let errors = process("{{#widget nope}}\n{{#widget token-bucket capacity=0}}\n").unwrap_err();

    assert_eq!(errors.len(), 2);
}

#[test]
fn directive_in_code_fence_stays_text() {
    let text = "```md\n{{#widget nope}}\n```\n";

    assert_eq!(process(text).unwrap(), text);
}

#[test]
fn escaped_directive_stays_text() {
    let out = process("write \\{{#widget token-bucket}} to embed\n").unwrap();

    assert_eq!(out, "write {{#widget token-bucket}} to embed\n");
}

#[test]
fn mdbook_directives_pass_through() {
    let text = "{{#include ../listings/a/main.go:server}}\n";

    assert_eq!(process(text).unwrap(), text);
}

#[test]
fn tabs_wrap_panels() {
    let out =
        process("{{#tabs}}\n{{#tab Go}}\n\ngo\n\n{{#tab Python}}\n\npy\n\n{{#endtabs}}\n").unwrap();

    assert_eq!(out.matches("class=\"sdbe-tab-panel\"").count(), 2, "{out}");
    assert_eq!(
        out.matches("<div").count(),
        out.matches("</div>").count(),
        "{out}"
    );
}

#[test]
fn unclosed_tabs_are_rejected() {
    let err = first_error("{{#tabs}}\n{{#tab Go}}\n");

    assert!(err.reason.contains("never closed"), "{}", err.reason);
}

#[test]
fn tab_outside_group_is_rejected() {
    let err = first_error("{{#tab Go}}\n");

    assert!(err.reason.contains("outside"), "{}", err.reason);
}

#[test]
fn mermaid_block_becomes_inline_svg_with_theme_colours() {
    let out =
        process("text\n\n```mermaid\nflowchart LR\n    A[Client] --> B[Server]\n```\n").unwrap();

    assert!(
        out.starts_with("text\n\n<figure class=\"sdbe-diagram\">\n<svg"),
        "{out}"
    );
    assert!(out.contains(">Client<"), "{out}");
    assert!(!out.contains("```"), "{out}");
    // The placeholder colours that theme/diagrams.css repaints.
    assert!(out.contains("fill=\"#f5f6fa\""), "{out}");
    assert!(out.contains("stroke=\"#4b5563\""), "{out}");
    // A blank line would end the raw HTML block early.
    let figure = out.trim_start_matches("text\n\n").trim_end();
    assert!(!figure.contains("\n\n"), "{out}");
}

#[test]
fn diagram_ids_are_unique_to_the_diagram() {
    let first = process("```mermaid\nflowchart LR\n    A --> B\n```\n").unwrap();
    let second = process("```mermaid\nflowchart LR\n    C --> D\n```\n").unwrap();
    let ids = |svg: &str| -> Vec<String> {
        svg.match_indices(" id=\"")
            .map(|(at, _)| svg[at + 5..].split('"').next().unwrap_or("").to_string())
            .collect()
    };

    for id in ids(&first) {
        assert!(!ids(&second).contains(&id), "both diagrams use id `{id}`");
    }
    let unique: std::collections::HashSet<_> = ids(&first).into_iter().collect();
    assert_eq!(unique.len(), ids(&first).len(), "repeated ids in {first}");
}

#[test]
fn invalid_diagram_reports_its_fence_line() {
    let err = first_error("# Title\n\n```mermaid\nflowchart LR\n    A -->\n```\n");

    assert_eq!((err.line, err.column), (3, 1));
    assert!(
        err.reason.contains("invalid Mermaid diagram"),
        "{}",
        err.reason
    );
}

#[test]
fn unclosed_diagram_is_an_error() {
    let err = first_error("```mermaid\nflowchart LR\n    A --> B\n");

    assert_eq!(err.line, 1);
    assert!(
        err.reason.contains("unclosed ```mermaid block"),
        "{}",
        err.reason
    );
}

#[test]
fn other_code_blocks_stay_as_they_are() {
    let text = "```go\nfmt.Println(\"{{#widget nope}}\")\n```\n";

    assert_eq!(process(text).unwrap(), text);
}

#[test]
fn quoted_edge_label_is_drawn_without_quotes() {
    let out = process("```mermaid\nflowchart LR\n    A -->|\"yes: hit\"| B\n```\n").unwrap();

    assert!(out.contains(">yes: hit<"), "{out}");
    assert!(!out.contains("&quot;yes"), "{out}");
}

#[test]
fn dropped_sequence_message_is_an_error() {
    let err =
        first_error("```mermaid\nsequenceDiagram\n    A->>B: pay\n    B--xA: lost reply\n```\n");

    assert_eq!(err.line, 1);
    assert!(
        err.reason
            .contains("left out the message `B--xA: lost reply`"),
        "{}",
        err.reason
    );
}

#[test]
fn drawn_sequence_messages_pass() {
    let out = process(
        "```mermaid\nsequenceDiagram\n    A->>B: pay<br/>now\n    B-->>A: 200 & the proxy's done\n```\n",
    );

    assert!(out.is_ok(), "{out:?}");
}

#[test]
fn widget_names_lists_each_once_in_order() {
    let content = "{{#widget queue}}\n\
        ```text\n{{#widget cache}}\n```\n\
        \\{{#widget dns}}\n\
        {{#widget token-bucket capacity=3}}\n{{#widget queue servers=2}}\n";

    assert_eq!(widget_names(content), ["queue", "token-bucket"]);
}

#[test]
fn widget_names_of_an_invalid_chapter_is_empty() {
    assert!(widget_names("{{#widget queue servers=-1}}\n").is_empty());
}
