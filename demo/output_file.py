"""Read a `$GITHUB_OUTPUT` file back, as the runner does (`name=value` and heredoc blocks)."""

from __future__ import annotations


def parse_output_file(text: str) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, _, value = line.partition("=")
        if name:
            outputs[name] = value
        i += 1
    return outputs
