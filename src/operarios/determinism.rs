//! Templates whose output could depend on the iteration order of a map.
//!
//! Jobs are rendered in apply, on every replica, so a rendering must be a function of the
//! template and the alert alone. gtmpl keeps maps and objects as `HashMap`s with a random seed
//! per map: `range` over one, or printing one (its `Debug` text, directly or through
//! `print`/`printf`/`println`/`urlquery`, or in a comparison's error), comes out in a different
//! order on each replica and at each rendering. (Go sorts map keys; gtmpl does not.)
//!
//! [`check`] follows the types of the template data (`template::template_data`) through each
//! action — the dot through `with` and `range`, variables, field chains, `index`, `and`/`or`
//! — and refuses a `range` over anything but a list (`.HookMessage.Alerts`) and any printed
//! value that is not a plain value (string, number, bool). What it cannot type is refused when
//! printed or ranged over, never guessed.

/// What an expression evaluates to, as far as printing and iteration are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// A string, number, bool or nil (or an execution error, which is deterministic).
    Plain,
    /// Labels or annotations: string keys to strings.
    Map,
    /// The root (`.`/`$`), `.Alert` (one alert) or `.HookMessage`.
    Root,
    Alert,
    Hook,
    /// `.HookMessage.Alerts`.
    Alerts,
    Unknown,
}

impl Ty {
    fn field(self, name: &str) -> Ty {
        match (self, name) {
            (Ty::Root, "Alert") => Ty::Alert,
            (Ty::Root, "HookMessage") => Ty::Hook,
            (Ty::Root | Ty::Alert, "Labels" | "Annotations") => Ty::Map,
            (Ty::Hook, "GroupLabels" | "CommonLabels" | "CommonAnnotations") => Ty::Map,
            (Ty::Hook, "Alerts") => Ty::Alerts,
            (Ty::Unknown, _) => Ty::Unknown,
            // A string field, a label, or a missing key (an execution error).
            _ => Ty::Plain,
        }
    }

    fn printable(self) -> bool {
        self == Ty::Plain
    }
}

/// One block level: the dot and the variables declared in it.
struct Frame {
    dot: Ty,
    /// The dot outside the block (an `else` of a `with` or `range` runs with it).
    outer: Ty,
    vars: Vec<(String, Ty)>,
}

/// Refuses a template (given as the inner text of each of its actions, comments excluded)
/// whose output could depend on map order; the message names the action.
pub(crate) fn check<'a>(actions: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut frames = vec![Frame {
        dot: Ty::Root,
        outer: Ty::Root,
        vars: Vec::new(),
    }];
    for action in actions {
        let tokens = tokens(action.trim_matches(|c: char| c == '-' || c.is_whitespace()));
        let refuse = |what: &str| {
            Err(format!(
                "`{{{{{action}}}}}` {what}: gtmpl iterates maps in a random order, so replicas would render different Jobs (use `index` or the `OPENFERO_*` variables)"
            ))
        };
        let scope = Scope { frames: &frames };
        match tokens.first().map(String::as_str) {
            // The root frame stays (a stray `end` is gtmpl's parse error).
            Some("end") => frames.truncate(frames.len().max(2) - 1),
            Some("else") => {
                let rest = &tokens[1..];
                let top = frames.last_mut().expect("the root frame is never popped");
                top.vars.clear();
                match rest.first().map(String::as_str) {
                    Some("if") => {
                        top.dot = top.outer;
                        let dot = top.dot;
                        let scope = Scope { frames: &frames };
                        if scope.pipeline(&rest[1..], dot)?.is_none() {
                            return refuse("cannot be typed");
                        }
                    }
                    Some("with") => {
                        let outer = top.outer;
                        let scope = Scope { frames: &frames };
                        let ty = scope.pipeline(&rest[1..], outer)?.unwrap_or(Ty::Unknown);
                        frames.last_mut().expect("root frame").dot = ty;
                    }
                    _ => top.dot = top.outer,
                }
            }
            Some(keyword @ ("if" | "with" | "range")) => {
                let dot = frames.last().expect("root frame").dot;
                let (vars, pipe) = declarations(&tokens[1..]);
                let ty = scope.pipeline(pipe, dot)?.unwrap_or(Ty::Unknown);
                let (inner, declared) = match keyword {
                    "if" => (dot, vars.iter().map(|v| (v.clone(), ty)).collect()),
                    "with" => (ty, vars.iter().map(|v| (v.clone(), ty)).collect()),
                    _ => match ty {
                        Ty::Alerts => {
                            let declared: Vec<(String, Ty)> = match vars.as_slice() {
                                [index, element] => {
                                    vec![(index.clone(), Ty::Plain), (element.clone(), Ty::Alert)]
                                }
                                [element] => vec![(element.clone(), Ty::Alert)],
                                _ => Vec::new(),
                            };
                            (Ty::Alert, declared)
                        }
                        // Ranging over a plain value is an execution error, the same everywhere.
                        Ty::Plain => (Ty::Plain, Vec::new()),
                        _ => return refuse("ranges over a map or an object"),
                    },
                };
                frames.push(Frame {
                    dot: inner,
                    outer: dot,
                    vars: declared,
                });
            }
            Some(_) => {
                let dot = frames.last().expect("root frame").dot;
                let (vars, pipe) = declarations(&tokens);
                let ty = scope.pipeline(pipe, dot)?.unwrap_or(Ty::Unknown);
                if vars.is_empty() {
                    if !ty.printable() {
                        return refuse("prints a map or an object");
                    }
                } else {
                    let top = frames.last_mut().expect("root frame");
                    top.vars.extend(vars.into_iter().map(|v| (v, ty)));
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// `$a, $b := pipeline` or `$a = pipeline`: the variables and the pipeline's tokens.
fn declarations(tokens: &[String]) -> (Vec<String>, &[String]) {
    if let Some(at) = tokens.iter().position(|t| t == ":=" || t == "=") {
        let vars: Vec<String> = tokens[..at]
            .iter()
            .filter(|t| t.starts_with('$'))
            .cloned()
            .collect();
        if !vars.is_empty() && tokens[..at].iter().all(|t| t.starts_with('$') || t == ",") {
            return (vars, &tokens[at + 1..]);
        }
    }
    (Vec::new(), tokens)
}

struct Scope<'f> {
    frames: &'f [Frame],
}

impl Scope<'_> {
    fn var(&self, name: &str) -> Ty {
        if name == "$" {
            return Ty::Root;
        }
        self.frames
            .iter()
            .rev()
            .flat_map(|f| f.vars.iter().rev())
            .find(|(n, _)| n == name)
            .map_or(Ty::Unknown, |(_, ty)| *ty)
    }

    /// The type of a pipeline; `Err` when an argument would be printed although it is not a
    /// plain value; `None` for an empty pipeline.
    fn pipeline(&self, tokens: &[String], dot: Ty) -> Result<Option<Ty>, String> {
        let mut result = None;
        for command in split_top(tokens, "|") {
            result = Some(self.command(command, dot, result)?);
        }
        Ok(result)
    }

    fn command(&self, tokens: &[String], dot: Ty, piped: Option<Ty>) -> Result<Ty, String> {
        let Some(first) = tokens.first() else {
            return Ok(Ty::Unknown);
        };
        let is_function = first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && !matches!(first.as_str(), "true" | "false" | "nil");
        if !is_function {
            let (ty, used) = self.operand(tokens, dot)?;
            return Ok(if used == tokens.len() && piped.is_none() {
                ty
            } else {
                // Arguments to a non-function: a parse or execution error.
                Ty::Plain
            });
        }
        let mut args = Vec::new();
        // How many tokens the first argument took (`index` reads its keys after it). Kept
        // from this one pass: typing the first argument again for `index` made nested
        // `(index (index …))` cost 2^depth (a 496-byte template took 84 s; fuzzing, finding 9).
        let mut first_used = 0;
        let mut rest = &tokens[1..];
        while !rest.is_empty() {
            let (ty, used) = self.operand(rest, dot)?;
            if args.is_empty() {
                first_used = used;
            }
            args.push(ty);
            rest = &rest[used.max(1)..];
        }
        args.extend(piped);
        let keys = &tokens[1..];
        Ok(match first.as_str() {
            "print" | "printf" | "println" | "urlquery" | "lt" | "le" | "gt" | "ge" => {
                if let Some(bad) = args.iter().find(|t| !t.printable()) {
                    return Err(format!(
                        "`{first}` would print or compare a {bad:?} value: gtmpl iterates maps in a random order, so replicas would render different Jobs (use `index` or the `OPENFERO_*` variables)"
                    ));
                }
                Ty::Plain
            }
            "len" | "eq" | "ne" | "not" => Ty::Plain,
            "and" | "or" => match args.split_first() {
                Some((t, others)) if others.iter().all(|o| o == t) => *t,
                _ => Ty::Unknown,
            },
            "index" => match args.first() {
                Some(collection) => {
                    let mut ty = *collection;
                    for key in &keys[first_used.min(keys.len())..] {
                        ty = match ty {
                            Ty::Map | Ty::Plain => Ty::Plain,
                            Ty::Alerts => Ty::Alert,
                            Ty::Root | Ty::Alert | Ty::Hook => match unquote(key) {
                                Some(name) => ty.field(&name),
                                None => Ty::Unknown,
                            },
                            Ty::Unknown => Ty::Unknown,
                        };
                    }
                    ty
                }
                None => Ty::Plain,
            },
            // `call` and anything gtmpl does not know (a parse error anyway).
            _ => Ty::Unknown,
        })
    }

    /// The type of the operand at the start of `tokens` and how many tokens it took.
    fn operand(&self, tokens: &[String], dot: Ty) -> Result<(Ty, usize), String> {
        #[cfg(test)]
        OPERANDS.with(|n| n.set(n.get() + 1));
        let Some(first) = tokens.first() else {
            return Ok((Ty::Unknown, 0));
        };
        if first == "(" {
            let close = matching_paren(tokens).unwrap_or(tokens.len());
            let inner = &tokens[1..close.min(tokens.len())];
            let ty = self.pipeline(inner, dot)?.unwrap_or(Ty::Unknown);
            let mut used = close + 1;
            let mut ty = ty;
            if let Some(chain) = tokens.get(used).filter(|t| t.starts_with('.')) {
                ty = chain_of(ty, chain);
                used += 1;
            }
            return Ok((ty, used.min(tokens.len())));
        }
        let ty = if first == "." {
            dot
        } else if let Some(chain) = first.strip_prefix('.') {
            chain_of(dot, &format!(".{chain}"))
        } else if first.starts_with('$') {
            let (name, chain) = match first.find('.') {
                Some(at) => first.split_at(at),
                None => (first.as_str(), ""),
            };
            chain_of(self.var(name), chain)
        } else {
            // A string, number, bool, nil or character constant.
            Ty::Plain
        };
        Ok((ty, 1))
    }
}

/// Follows `.A.B` from `ty`.
fn chain_of(ty: Ty, chain: &str) -> Ty {
    chain
        .split('.')
        .filter(|s| !s.is_empty())
        .fold(ty, Ty::field)
}

fn unquote(token: &str) -> Option<String> {
    let body = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| token.strip_prefix('`').and_then(|t| t.strip_suffix('`')))?;
    Some(body.to_owned())
}

fn matching_paren(tokens: &[String]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "(" => depth += 1,
            ")" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `tokens` split at `sep` outside parentheses.
fn split_top<'t>(tokens: &'t [String], sep: &str) -> Vec<&'t [String]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            s if s == sep && depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts.retain(|p| !p.is_empty());
    parts
}

/// The action's tokens: quoted strings and character constants whole, `(`, `)`, `|`, `,`,
/// `:=`, `=` alone, everything else split at whitespace (a `)` followed by `.Field` stays two
/// tokens: `)` and `.Field`).
fn tokens(action: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = action.chars().peekable();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        if !current.is_empty() {
            out.push(std::mem::take(current));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                flush(&mut current, &mut out);
                let mut quoted = String::from(c);
                while let Some(q) = chars.next() {
                    quoted.push(q);
                    if q == '\\' && c != '`' {
                        if let Some(escaped) = chars.next() {
                            quoted.push(escaped);
                        }
                    } else if q == c {
                        break;
                    }
                }
                out.push(quoted);
            }
            '(' | ')' | '|' | ',' => {
                flush(&mut current, &mut out);
                out.push(c.to_string());
            }
            ':' if chars.peek() == Some(&'=') => {
                chars.next();
                flush(&mut current, &mut out);
                out.push(":=".into());
            }
            '=' => {
                flush(&mut current, &mut out);
                out.push("=".into());
            }
            c if c.is_whitespace() => flush(&mut current, &mut out),
            c => current.push(c),
        }
    }
    flush(&mut current, &mut out);
    out
}

#[cfg(test)]
thread_local! {
    /// Operands typed on this thread (the cost of a check, for the test below).
    static OPERANDS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operands_typed(action: &str) -> usize {
        OPERANDS.with(|n| n.set(0));
        // The verdict does not matter here, only what it cost.
        let _ = check([action]);
        OPERANDS.with(|n| n.get())
    }

    #[test]
    fn nested_index_calls_are_typed_in_time_linear_in_their_depth() {
        // Each level used to type its first argument twice: 2^depth operands.
        for depth in [4usize, 16, 40] {
            let balanced = format!(
                "{}.Labels{} \"pod\"",
                "(index ".repeat(depth),
                ")".repeat(depth)
            );
            let unclosed = format!("{}.Labels \"pod\"", "(index ".repeat(depth));
            for action in [balanced, unclosed] {
                let n = operands_typed(&action);
                assert!(
                    n <= 4 * depth + 4,
                    "depth {depth}: {n} operands typed for `{action}`"
                );
            }
        }
    }
}
