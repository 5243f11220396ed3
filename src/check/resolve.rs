//! Flags and segments: declarations → resolved [`Flag`]s and [`Segment`]s.
//!
//! Takes one declared flag or segment from the [`Namespace`] and checks its
//! items: each flag item at most once (except `target` and `rule`), variation
//! names, `default` present when `variations` is, targets (one variation per
//! context key), rule names, splits (exactly 100%, no variation twice) and the
//! rules-per-flag cap. Conditions are handed to `cond`. Fills in the defaults
//! of SPEC §1 (boolean variations, `off`, salt = key, `when_disabled` =
//! default, enabled) and records every flag/segment reference for `graph`.

use super::cond::{lower_condition, CondCx, Ref};
use super::diagnostic::Diags;
use super::names::{FlagHead, Namespace, SegmentHead, VariationTable};
use super::program::{Flag, Rule, Segment, Serve, Split, Target, VariationId};
use super::Limits;
use crate::syntax::ast::{self, FlagItemKind, Ident, SegmentItem};
use std::collections::{HashMap, HashSet};

/// Shared state while lowering the items of one definition.
pub(crate) struct Lowering<'c, 'a> {
    /// The names to resolve against.
    pub ns: &'c Namespace<'a>,
    /// The caps.
    pub limits: &'c Limits,
    /// Where errors go.
    pub diags: &'c mut Diags,
}

impl Lowering<'_, '_> {
    fn cond(
        &mut self,
        file: usize,
        cond: &ast::Cond,
        refs: &mut Vec<Ref>,
    ) -> Option<super::program::Cond> {
        let mut cx = CondCx {
            ns: self.ns,
            limits: self.limits,
            file,
            diags: self.diags,
            refs,
        };
        lower_condition(cond, &mut cx)
    }

    /// Resolves a variation name of flag `flag`, reporting it when unknown.
    fn variation(
        &mut self,
        file: usize,
        flag: &str,
        table: &VariationTable,
        name: &Ident,
    ) -> Option<VariationId> {
        let found = table.find(&name.name);
        if found.is_none() {
            self.diags.error(
                file,
                name.span,
                format!(
                    "unknown variation `{}` in flag `{flag}` (variations: {})",
                    name.name,
                    table.names()
                ),
            );
        }
        found
    }

    /// Checks a split: known variations, none twice, exactly 100%.
    fn split(
        &mut self,
        file: usize,
        flag: &str,
        table: &VariationTable,
        split: &ast::Split,
    ) -> Option<Split> {
        let mut arms: Vec<(VariationId, u32)> = Vec::new();
        let mut ok = true;
        let mut total: u64 = 0;
        // A set, not a scan of the earlier arms: a split may have many.
        let mut named: HashSet<&str> = HashSet::with_capacity(split.arms.len());
        for arm in &split.arms {
            total = total.saturating_add(u64::from(arm.weight));
            let again = !named.insert(arm.variation.name.as_str());
            if again {
                self.diags.error(
                    file,
                    arm.variation.span,
                    format!(
                        "duplicate variation `{}` in this split of flag `{flag}`",
                        arm.variation.name
                    ),
                );
                ok = false;
                continue;
            }
            match self.variation(file, flag, table, &arm.variation) {
                Some(v) => arms.push((v, arm.weight)),
                None => ok = false,
            }
        }
        if total != 10_000 {
            self.diags.error(
                file,
                split.span,
                format!("split percentages add up to {}, not 100%", percent(total)),
            );
            ok = false;
        }
        ok.then(|| Split {
            by: split.by.as_ref().map(|by| by.name.clone()),
            arms,
        })
    }

    /// Lowers one flag; `None` when anything in it was reported.
    pub fn flag(&mut self, head: &FlagHead<'_>, refs: &mut Vec<Ref>) -> Option<Flag> {
        let file = head.file;
        let decl = head.decl;
        let key = decl.name.name.as_str();
        let table = &head.table;
        let errors_before = self.diags.len();

        let mut seen: HashSet<&'static str> = HashSet::new();
        let mut default: Option<VariationId> = None;
        let mut has_default = false;
        let mut enabled = true;
        let mut when_disabled: Option<VariationId> = None;
        let mut salt: Option<String> = None;
        let mut targets: Vec<Target> = Vec::new();
        let mut targeted: HashMap<&str, VariationId> = HashMap::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut rule_count = 0usize;
        let mut rules_reported = false;
        let mut rollout: Option<Split> = None;

        for item in &decl.items {
            let once = match &item.kind {
                FlagItemKind::Variations(_) => Some("variations"),
                FlagItemKind::Default(_) => Some("default"),
                FlagItemKind::Enabled(_) => Some("enabled"),
                FlagItemKind::WhenDisabled(_) => Some("when_disabled"),
                FlagItemKind::Salt(_) => Some("salt"),
                FlagItemKind::Rollout(_) => Some("rollout"),
                FlagItemKind::Target { .. } | FlagItemKind::Rule(_) => None,
            };
            if let Some(keyword) = once {
                if !seen.insert(keyword) {
                    self.diags.error(
                        file,
                        item.span,
                        format!("duplicate `{keyword}` in flag `{key}`: it may appear only once"),
                    );
                    continue;
                }
            }
            match &item.kind {
                // Settled by the namespace.
                FlagItemKind::Variations(_) => {}
                FlagItemKind::Default(name) => {
                    has_default = true;
                    default = self.variation(file, key, table, name);
                }
                FlagItemKind::Enabled(on) => enabled = *on,
                FlagItemKind::WhenDisabled(name) => {
                    when_disabled = self.variation(file, key, table, name);
                }
                FlagItemKind::Salt(s) => salt = Some(s.value.clone()),
                FlagItemKind::Target { variation, keys } => {
                    let Some(v) = self.variation(file, key, table, variation) else {
                        continue;
                    };
                    let mut fresh = Vec::new();
                    for k in keys {
                        match targeted.get(k.value.as_str()) {
                            None => {
                                targeted.insert(k.value.as_str(), v);
                                fresh.push(k.value.clone());
                            }
                            Some(earlier) if *earlier == v => {}
                            Some(earlier) => {
                                let earlier_name = table
                                    .variations
                                    .get(earlier.0 as usize)
                                    .map(|x| x.name.as_str())
                                    .unwrap_or("?");
                                self.diags.error(
                                    file,
                                    k.span,
                                    format!(
                                        "context key \"{}\" is targeted by two variations of flag `{key}` (`{earlier_name}` and `{}`); a key may be targeted by only one",
                                        k.value, variation.name
                                    ),
                                );
                            }
                        }
                    }
                    targets.push(Target {
                        variation: v,
                        keys: fresh,
                    });
                }
                FlagItemKind::Rule(rule) => {
                    rule_count = rule_count.saturating_add(1);
                    // Reported once, at the first rule over the cap (no `+ 1`
                    // on the cap: it may be `usize::MAX`).
                    if rule_count > self.limits.rules_per_flag && !rules_reported {
                        rules_reported = true;
                        self.diags.error(
                            file,
                            item.span,
                            format!(
                                "flag `{key}` has more than {} rules (the limit); merge rules or move conditions into segments",
                                self.limits.rules_per_flag
                            ),
                        );
                    }
                    if let Some(name) = &rule.name {
                        if name.value.is_empty() {
                            self.diags.error(
                                file,
                                name.span,
                                format!("rule name may not be empty in flag `{key}`; name the rule or leave the name out"),
                            );
                        }
                    }
                    let cond = self.cond(file, &rule.cond, refs);
                    let serve = match &rule.serve {
                        ast::Serve::Variation(name) => {
                            self.variation(file, key, table, name).map(Serve::Variation)
                        }
                        ast::Serve::Split(split) => {
                            self.split(file, key, table, split).map(Serve::Split)
                        }
                    };
                    if let (Some(cond), Some(serve)) = (cond, serve) {
                        rules.push(Rule {
                            name: rule.name.as_ref().map(|n| n.value.clone()),
                            cond,
                            serve,
                        });
                    }
                }
                FlagItemKind::Rollout(split) => rollout = self.split(file, key, table, split),
            }
        }

        if table.declared && !has_default {
            self.diags.error(
                file,
                decl.name.span,
                format!("flag `{key}` has a `variations` block but no `default`; add `default VARIATION`"),
            );
        }
        if !table.declared && !has_default {
            // A boolean flag defaults to `off`.
            default = table.find("off");
        }
        if self.diags.len() != errors_before {
            return None;
        }
        let default = default?;
        Some(Flag {
            key: key.to_string(),
            variations: table.variations.clone(),
            default,
            enabled,
            when_disabled: when_disabled.unwrap_or(default),
            salt: salt.unwrap_or_else(|| key.to_string()),
            targets,
            rules,
            rollout,
        })
    }

    /// Lowers one segment; `None` when anything in it was reported.
    pub fn segment(&mut self, head: &SegmentHead<'_>, refs: &mut Vec<Ref>) -> Option<Segment> {
        let mut segment = Segment {
            name: head.decl.name.name.clone(),
            include: Vec::new(),
            exclude: Vec::new(),
            matches: Vec::new(),
        };
        let mut ok = true;
        for item in &head.decl.items {
            match item {
                SegmentItem::Include(keys) => {
                    segment.include.extend(keys.iter().map(|k| k.value.clone()))
                }
                SegmentItem::Exclude(keys) => {
                    segment.exclude.extend(keys.iter().map(|k| k.value.clone()))
                }
                SegmentItem::Match(cond) => match self.cond(head.file, cond, refs) {
                    Some(c) => segment.matches.push(c),
                    None => ok = false,
                },
            }
        }
        ok.then_some(segment)
    }
}

/// Hundredths of a percent as text: `9550` → `95.5%`.
fn percent(hundredths: u64) -> String {
    let whole = hundredths / 100;
    let frac = hundredths % 100;
    if frac == 0 {
        format!("{whole}%")
    } else if frac % 10 == 0 {
        format!("{whole}.{}%", frac / 10)
    } else {
        format!("{whole}.{frac:02}%")
    }
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percent_text() {
        assert_eq!(percent(9500), "95%");
        assert_eq!(percent(9550), "95.5%");
        assert_eq!(percent(9505), "95.05%");
        assert_eq!(percent(10_001), "100.01%");
    }
}
