//! The generated query set: every function and operator family Cairn supports.
//!
//! `{at}` in an expression is replaced by a fixed evaluation time (unix seconds) inside
//! the compared range. The longest look-back of any query (offset + subquery range +
//! inner range) is at most `MAX_LOOKBACK_MIN` minutes, so, evaluated after
//! `data start + MAX_LOOKBACK_MIN + 1m`, no rate window holds a series' first sample:
//! 2.42 applies the counter zero-point clamp before the half-interval extrapolation
//! limit, 3.x after, which only matters for windows that start before the series does.

pub(crate) const MAX_LOOKBACK_MIN: i64 = 30;

#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) expr: String,
    /// Instant results are compared in order (sort, sort_desc, ungrouped topk/bottomk).
    pub(crate) ordered: bool,
    /// An empty answer is the right one (or may be, at some evaluation times).
    pub(crate) may_be_empty: bool,
    /// A range vector or a string: an instant query returns a matrix (or string), a
    /// range query is an error on both sides.
    pub(crate) instant_only: bool,
    /// Prometheus refuses it (parse or execution error): Cairn must refuse it too.
    pub(crate) error: bool,
}

fn q(expr: impl Into<String>) -> Query {
    Query {
        expr: expr.into(),
        ordered: false,
        may_be_empty: false,
        instant_only: false,
        error: false,
    }
}

fn error(expr: impl Into<String>) -> Query {
    Query {
        error: true,
        may_be_empty: true,
        ..q(expr)
    }
}

fn ordered(expr: impl Into<String>) -> Query {
    Query {
        ordered: true,
        ..q(expr)
    }
}

fn maybe_empty(expr: impl Into<String>) -> Query {
    Query {
        may_be_empty: true,
        ..q(expr)
    }
}

fn instant_only(expr: impl Into<String>) -> Query {
    Query {
        instant_only: true,
        ..q(expr)
    }
}

const COUNTERS: [&str; 4] = [
    "http_requests_total",
    "cpu_seconds_total",
    "request_duration_seconds_count",
    r#"request_duration_seconds_bucket{le="0.1"}"#,
];
const GAUGES: [&str; 3] = ["temperature_celsius", "memory_bytes", "queue_depth"];

pub(crate) fn all() -> Vec<Query> {
    let mut out = Vec::new();

    // Selectors: every matcher type, offset (also negative), @.
    for e in [
        "http_requests_total",
        r#"http_requests_total{job="api"}"#,
        r#"http_requests_total{job!="api",code="200"}"#,
        r#"http_requests_total{instance=~"10\\.0\\.[01]\\..*",method!~"P.*"}"#,
        r#"http_requests_total{code=~"4..|5.."}"#,
        r#"{__name__=~"temperature_celsius|queue_depth",job="db"}"#,
        r#"{__name__=~".+_total",mode="idle"}"#,
        r#"{job="worker",__name__!~"request_.*|http_.*|cpu_.*"}"#,
        r#"up{sensor=""}"#,
        r#"temperature_celsius{sensor!=""}"#,
        r#"request_duration_seconds_bucket{le=~"0\\.0.*|\\+Inf"}"#,
        "memory_bytes offset 7m",
        "temperature_celsius offset 90s",
        "temperature_celsius offset -3m",
        "queue_depth @ {at}",
        "temperature_celsius @ start()",
        "temperature_celsius @ end() offset 1m",
        "memory_bytes offset 10m @ {at}",
    ] {
        out.push(q(e));
    }
    // Sparse: some series have no sample within the lookback at some steps.
    out.push(q("last_run_timestamp_seconds"));
    out.push(maybe_empty(r#"temperature_celsius{sensor="c"}"#));
    out.push(maybe_empty(
        r#"temperature_celsius{job=~"api|db",job="worker"}"#,
    ));
    // Label values that need escaping; matchers on absent labels.
    for e in [
        "odd_labels",
        r#"odd_labels{path="/a b/\"quoted\""}"#,
        r#"odd_labels{path="back\\slash"}"#,
        r#"odd_labels{path=~"back\\\\.*"}"#,
        r#"odd_labels{path="ünïcödé/日本語"}"#,
        r#"odd_labels{path=~".*日本.*"}"#,
        r#"odd_labels{path!~"/.*"}"#,
        r#"odd_labels{path=~"/api/.*|back.*"}"#,
        r#"odd_labels{path="new\nline"}"#,
        r#"up{nonexistent=""}"#,
        r#"up{nonexistent=~""}"#,
        r#"up{nonexistent!~".+"}"#,
        r#"up{job=~"api|"}"#,
        r#"up{job=~"(?i)API"}"#,
        r#"up{instance=~".*:9100"}"#,
        r#"{__name__="up"}"#,
        r#"{__name__=~"up|queue_depth", job!~"a.*"}"#,
    ] {
        out.push(q(e));
    }
    // Go's RE2 syntax and semantics: [[:alpha:]] is ASCII-only, (?i) folds Unicode case,
    // \p{…} classes are Unicode.
    for e in [
        r#"odd_labels{path=~"[[:alpha:]]_1"}"#,
        r#"odd_labels{path=~"(?i)ÜNÏCÖDÉ/.*"}"#,
        r#"odd_labels{path=~"\\p{Arabic}+|x.*"}"#,
        r#"odd_labels{path=~"[^a-z/]+"}"#,
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty(r#"odd_labels{path=~"[[:alpha:]]+/.*"}"#));
    // KNOWN CAIRN BUG (see KNOWN_CAIRN_BUGS): \d, \w, \s and \b are ASCII-only in Go,
    // Unicode-aware in Rust's regex crate; \Q…\E quoting is Go-only.
    for e in [
        r#"odd_labels{path=~"\\d+"}"#,
        r#"odd_labels{path=~"\\w+"}"#,
        r#"odd_labels{path=~".*\\bcödé.*"}"#,
        r#"odd_labels{path=~"\\Q/api/v1/query\\E"}"#,
        r#"label_replace(odd_labels, "digits", "$1", "path", "(\\d+)")"#,
    ] {
        out.push(maybe_empty(e));
    }
    // Regular expressions are anchored: these match nothing.
    out.push(maybe_empty(r#"up{job=~"API"}"#));
    out.push(maybe_empty(r#"up{instance=~"10.0.1.1:91"}"#));

    // Range vectors at the top of an instant query (raw samples).
    for e in [
        r#"temperature_celsius{job="db"}[2m]"#,
        r#"http_requests_total{job="api",code="500"}[3m] offset 5m"#,
        "queue_depth[90s] @ {at}",
        r#"last_run_timestamp_seconds{job="worker"}[20m]"#,
        r#"rate(http_requests_total{job="db"}[5m])[10m:1m]"#,
    ] {
        out.push(instant_only(e));
    }

    // Counter functions.
    for c in COUNTERS {
        for f in ["rate", "irate", "increase", "resets", "changes"] {
            for r in ["1m", "5m"] {
                out.push(q(format!("{f}({c}[{r}])")));
            }
        }
    }
    for e in [
        "rate(http_requests_total[5m] offset 10m)",
        r#"increase(cpu_seconds_total{mode="user"}[10m] @ {at})"#,
        "rate(http_requests_total[5m] @ end())",
        "irate(cpu_seconds_total[1m] offset -2m)",
        "rate(request_duration_seconds_sum[7m30s])",
        "increase(http_requests_total[20m])",
    ] {
        out.push(q(e));
    }

    // Gauge functions.
    for g in GAUGES {
        for f in ["delta", "idelta", "deriv", "changes", "resets"] {
            for r in ["2m", "10m"] {
                out.push(q(format!("{f}({g}[{r}])")));
            }
        }
        out.push(q(format!("predict_linear({g}[10m], 600)")));
    }
    out.push(q("predict_linear(temperature_celsius[5m], -300)"));
    out.push(q("delta(temperature_celsius[3m] offset 1m)"));

    // *_over_time.
    for g in GAUGES {
        for f in [
            "avg", "min", "max", "sum", "count", "last", "present", "stddev", "stdvar",
        ] {
            for r in ["1m", "10m"] {
                out.push(q(format!("{f}_over_time({g}[{r}])")));
            }
        }
    }
    for phi in ["0", "0.25", "0.5", "0.9", "1", "-0.5", "1.5"] {
        out.push(q(format!(
            "quantile_over_time({phi}, temperature_celsius[10m])"
        )));
    }
    out.push(q("quantile_over_time(0.75, queue_depth[5m] @ {at})"));
    for e in [
        "last_over_time(last_run_timestamp_seconds[10m])",
        "count_over_time(last_run_timestamp_seconds[20m])",
        "max_over_time(last_run_timestamp_seconds[6m])",
        "present_over_time(last_run_timestamp_seconds[5m])",
        "absent_over_time(nonexistent_metric[5m])",
        r#"absent_over_time(nonexistent_metric{job="api",instance=~"x.*"}[5m])"#,
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("absent_over_time(temperature_celsius[5m])"));

    // Element-wise math.
    for f in [
        "abs", "ceil", "floor", "round", "exp", "ln", "sqrt", "sgn", "log2", "log10", "sin", "cos",
        "tan", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "deg", "rad",
    ] {
        out.push(q(format!("{f}(temperature_celsius)")));
    }
    for e in [
        "asin(temperature_celsius / 40)",
        "acos(temperature_celsius / 40)",
        "atanh(temperature_celsius / 50)",
        "ln(memory_bytes)",
        "sqrt(rate(http_requests_total[5m]))",
        "exp(-queue_depth)",
        "round(temperature_celsius, 0.25)",
        "round(memory_bytes, 1000)",
        "round(-queue_depth / 2)",
        "clamp(temperature_celsius, -5, 10)",
        "clamp_min(temperature_celsius, 0)",
        "clamp_max(queue_depth, 2)",
        "clamp_max(clamp_min(temperature_celsius, -1), 1)",
        "timestamp(temperature_celsius)",
        "timestamp(last_run_timestamp_seconds)",
        "timestamp(queue_depth offset 5m)",
        "hour(last_run_timestamp_seconds)",
        "minute(last_run_timestamp_seconds)",
        "day_of_week(last_run_timestamp_seconds)",
        "day_of_month(last_run_timestamp_seconds)",
        "day_of_year(last_run_timestamp_seconds)",
        "days_in_month(last_run_timestamp_seconds)",
        "month(last_run_timestamp_seconds)",
        "year(last_run_timestamp_seconds)",
        "hour()",
        "minute()",
        "day_of_week()",
        "year()",
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("clamp(temperature_celsius, 10, -10)"));

    // Classic histograms.
    for e in [
        "histogram_quantile(0.5, rate(request_duration_seconds_bucket[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.99, sum by (job, le) (rate(request_duration_seconds_bucket[10m])))",
        "histogram_quantile(0.75, sum without (instance) (increase(request_duration_seconds_bucket[2m])))",
        r#"histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket{job="api"}[1m])))"#,
        "histogram_quantile(0, sum by (job, le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(1, sum by (job, le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(-0.1, sum by (job, le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(1.1, sum by (job, le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.5, request_duration_seconds_bucket)",
        "histogram_quantile(0.3, request_duration_seconds_bucket offset 10m)",
        "histogram_quantile(0.95, sum by (le, instance) (rate(request_duration_seconds_bucket[5m] @ {at})))",
        "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
        "request_duration_seconds_sum / request_duration_seconds_count",
    ] {
        out.push(q(e));
    }

    // Aggregations.
    for op in [
        "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
    ] {
        for grouping in ["", " by (job)", " without (instance)", " by (job, code)"] {
            out.push(q(format!("{op}{grouping} (rate(http_requests_total[5m]))")));
        }
        for grouping in ["", " by (sensor)", " without (sensor)"] {
            out.push(q(format!("{op}{grouping} (temperature_celsius)")));
        }
    }
    for e in [
        "sum(http_requests_total) by (job, method)",
        "max without (mode) (cpu_seconds_total)",
        "avg by (job) (memory_bytes)",
        "stddev by (job) (memory_bytes)",
        "count by (le) (request_duration_seconds_bucket)",
        "topk by (job) (1, memory_bytes)",
        "bottomk without (instance, sensor) (2, temperature_celsius)",
        "topk(2, rate(http_requests_total[5m])) by (job)",
        "quantile(0.5, temperature_celsius)",
        "quantile by (job) (0.9, rate(http_requests_total[5m]))",
        "quantile(0, memory_bytes)",
        "quantile(1.2, memory_bytes)",
        "quantile without (sensor) (0.25, temperature_celsius)",
        r#"count_values("depth", queue_depth)"#,
        r#"count_values by (job) ("v", up)"#,
        r#"count_values("t", round(temperature_celsius))"#,
        r#"count_values without (instance) ("le_count", count by (job, instance) (request_duration_seconds_bucket))"#,
        "sum(rate(http_requests_total[5m]) > 1) by (code)",
    ] {
        out.push(q(e));
    }
    for e in [
        "topk(3, temperature_celsius)",
        "bottomk(2, rate(cpu_seconds_total[5m]))",
        "topk(5, memory_bytes offset 5m)",
        "bottomk(4, temperature_celsius)",
        "sort(temperature_celsius)",
        "sort_desc(memory_bytes)",
        "sort(rate(cpu_seconds_total[5m]))",
    ] {
        out.push(ordered(e));
    }

    // Binary operators.
    for e in [
        r#"http_requests_total{code="500"} / ignoring(code) http_requests_total{code="200"}"#,
        "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
        "sum by (job, instance) (rate(http_requests_total[5m])) / on(job, instance) memory_bytes",
        "temperature_celsius - on(job, instance) group_left avg by (job, instance) (temperature_celsius)",
        "avg by (job, instance) (temperature_celsius) - on(job, instance) group_right temperature_celsius",
        "temperature_celsius * on(instance) group_left(job) up",
        "memory_bytes * on(job, instance) group_left(mode) cpu_seconds_total{mode=\"user\"}",
        "request_duration_seconds_sum / request_duration_seconds_count",
        "memory_bytes / 1024 / 1024",
        "2 ^ queue_depth",
        "queue_depth % 3",
        "-temperature_celsius",
        "temperature_celsius % -7.5",
        "temperature_celsius ^ 2 - on(job, instance) group_left memory_bytes / 1e7",
        "temperature_celsius atan2 10",
        "sum by (job, instance, sensor) (temperature_celsius atan2 10)",
        r#"sum by (job, instance) (temperature_celsius{sensor="a"} atan2 ignoring(sensor) temperature_celsius{sensor="b"})"#,
        "time() - last_run_timestamp_seconds",
        "1 + 2 * 3 - 4 / 8 ^ 2 % 5",
        "temperature_celsius > 20",
        "temperature_celsius > bool 20",
        "20 < temperature_celsius",
        r#"temperature_celsius{sensor="a"} < ignoring(sensor) temperature_celsius{sensor="b"}"#,
        r#"temperature_celsius{sensor="a"} >= bool ignoring(sensor) temperature_celsius{sensor="b"}"#,
        "queue_depth == 2",
        "queue_depth != bool 0",
        "queue_depth <= 1",
        "1 < bool 2",
        "2 == bool 2",
        "queue_depth >= on(job, instance) group_left max by (job, instance) (queue_depth)",
        "temperature_celsius == bool on(job, instance) group_left max by (job, instance) (temperature_celsius)",
        "temperature_celsius > 0 and on(job, instance) queue_depth > 1",
        r#"temperature_celsius and temperature_celsius{sensor="a"}"#,
        "queue_depth > 2 or on(job, instance) up",
        r#"http_requests_total{code="500"} or http_requests_total{code="404"}"#,
        "temperature_celsius unless on(job, instance) queue_depth == 0",
        r#"http_requests_total unless http_requests_total{method="GET"}"#,
        r#"sum(up{job="none"}) or vector(0)"#,
        "up == 0 or up * 0 + 2",
        "(rate(http_requests_total[5m]) > 0.5) * 60",
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("temperature_celsius > 1000"));
    out.push(maybe_empty("up unless up"));

    // Label manipulation.
    for e in [
        r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
        r#"label_replace(up, "port", "$2", "instance", "(.*):(.*)")"#,
        r#"label_replace(temperature_celsius, "sensor", "s-$1", "sensor", "(a)")"#,
        r#"label_replace(up, "job", "", "job", ".*")"#,
        r#"label_replace(rate(http_requests_total[5m]), "foo", "$1-$2", "method", "(G)(ET)")"#,
        r#"label_replace(memory_bytes, "nomatch", "x", "job", "zzz")"#,
        r#"label_join(up, "combo", "/", "job", "instance")"#,
        r#"label_join(temperature_celsius, "id", "", "instance", "sensor")"#,
        r#"label_join(queue_depth, "job", "-", "job", "job")"#,
    ] {
        out.push(q(e));
    }

    // absent, vector, scalar, time.
    for e in [
        "absent(nonexistent_metric)",
        r#"absent(nonexistent_metric{job="api",code=~"5.."})"#,
        "absent(sum(nonexistent_metric))",
        "vector(1)",
        "vector(time())",
        "time()",
        "pi()",
        "scalar(sum(up))",
        "scalar(temperature_celsius)",
        "temperature_celsius * scalar(max(queue_depth))",
        r#"vector(scalar(count(up == 1))) - 1"#,
        "time() - 60",
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("absent(up)"));

    // Subqueries.
    for e in [
        "max_over_time(rate(http_requests_total[1m])[10m:1m])",
        "avg_over_time(temperature_celsius[5m:30s])",
        "min_over_time(sum by (job) (rate(http_requests_total[2m]))[15m:2m] offset 5m)",
        "quantile_over_time(0.9, temperature_celsius[20m:1m])",
        "max_over_time(temperature_celsius[10m:1m] @ {at})",
        "rate(http_requests_total[5m:15s])",
        "deriv(avg_over_time(memory_bytes[1m])[10m:30s])",
        "stddev_over_time(temperature_celsius[10m:])",
        "sum_over_time(count(up == 1)[20m:45s])",
        "changes(max(queue_depth)[15m:15s])",
        // Nested: the inner subquery's windows end on the outer one's steps (multiples
        // of 1m), so its range and step are chosen to never put a boundary on one of its
        // own steps (multiples of 40s): 60k - 310 is never a multiple of 40.
        r#"max_over_time(deriv(rate(http_requests_total{job="api"}[1m])[5m10s:40s])[10m:1m])"#,
        "last_over_time(histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))[10m:1m])",
        "count_over_time(last_run_timestamp_seconds[20m:1m])",
        "increase(http_requests_total[10m:1m] offset 3m)",
    ] {
        out.push(q(e));
    }

    // Staleness markers: batch_in_progress comes and goes.
    for e in [
        "last_over_time(batch_in_progress[10m])",
        "count_over_time(batch_in_progress[10m])",
        "present_over_time(batch_in_progress[3m])",
        "changes(batch_in_progress[10m])",
        "max_over_time(batch_in_progress[20m:1m])",
        "count_over_time(batch_in_progress[20m:15s])",
        "batch_in_progress > 3 or on(job, instance) up",
        "count(batch_in_progress) or vector(0)",
    ] {
        out.push(q(e));
    }
    for e in [
        "batch_in_progress",
        "batch_in_progress offset 2m",
        "timestamp(batch_in_progress)",
        "sum(batch_in_progress)",
        r#"absent(batch_in_progress{instance="10.0.2.1:9100"})"#,
    ] {
        out.push(maybe_empty(e));
    }
    out.push(instant_only("batch_in_progress[10m]"));

    // NaN and ±Inf values.
    for e in [
        "ratio",
        "max(ratio)",
        "min(ratio)",
        "sum(ratio)",
        "avg(ratio)",
        "count(ratio)",
        "group(ratio)",
        "stddev(ratio)",
        "stdvar(ratio)",
        "quantile(0.5, ratio)",
        "quantile(0.9, ratio)",
        "topk(1, ratio) by (instance)",
        r#"count_values("r", ratio)"#,
        "max_over_time(ratio[5m])",
        "min_over_time(ratio[5m])",
        "avg_over_time(ratio[5m])",
        "sum_over_time(ratio[5m])",
        "stddev_over_time(ratio[10m])",
        "quantile_over_time(0.5, ratio[10m])",
        "quantile_over_time(0.9, ratio[10m])",
        "last_over_time(ratio[1m])",
        "changes(ratio[10m])",
        "resets(ratio[10m])",
        "delta(ratio[5m])",
        "idelta(ratio[5m])",
        "deriv(ratio[5m])",
        "ratio > 0.5",
        "ratio == ratio",
        "ratio != bool ratio",
        "ratio * on(job, instance) group_left up",
        "clamp(ratio, 0.2, 0.8)",
        "clamp_min(ratio, 0.5)",
        "clamp_max(ratio, 0.5)",
        "round(ratio, 0.1)",
        "abs(ratio)",
        "sgn(ratio)",
        "exp(ratio)",
        "ln(ratio)",
        "floor(ratio * 10)",
        "sum by (job, instance) (ratio atan2 on(job, instance) group_left queue_depth)",
        "max by (job) (ratio)",
        "max_over_time(max(ratio)[10m:1m])",
        "histogram_quantile(0.5, label_replace(ratio, \"le\", \"1\", \"\", \"\"))",
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("ratio != ratio"));
    for e in [
        "sort(ratio)",
        "sort_desc(ratio)",
        "topk(2, ratio)",
        "bottomk(2, ratio)",
    ] {
        out.push(Query {
            may_be_empty: true,
            ..ordered(e)
        });
    }

    // Literals, precedence, parameters from expressions, odd parameters.
    for e in [
        "NaN",
        "Inf",
        "-Inf",
        "0x1F + 1e3",
        "vector(NaN)",
        "vector(-Inf)",
        "2 ^ 3 ^ 2",
        "-2 ^ 2",
        "-(-queue_depth)",
        "-sum(queue_depth)",
        "1 / 0",
        "-1 / 0",
        "0 / 0",
        "time() % 3600",
        "scalar(vector(1))",
        "vector(1) + vector(2)",
        "vector(1) + on() group_right queue_depth",
        "queue_depth > bool 2",
        "topk(scalar(count(up)) - 8, temperature_celsius)",
        "quantile(scalar(vector(0.3)), memory_bytes)",
        "topk(2.7, memory_bytes)",
        "bottomk(1000, queue_depth)",
        "quantile(NaN, memory_bytes)",
        r#"count_values("job", up)"#,
        "count by (__name__) ({job=\"db\"})",
        "sum without () (queue_depth)",
        "group without (job, instance) (up)",
        r#"label_join(up, "n", ",", "__name__", "job")"#,
        r#"label_replace(up, "job", "", "instance", ".*")"#,
        "timestamp(sum(queue_depth))",
        "max_over_time(temperature_celsius[4m:5m])",
        "max_over_time((temperature_celsius @ {at})[5m:1m])",
        "up and on(job) sum by (job) (queue_depth) > 5",
        "temperature_celsius unless ignoring(sensor) queue_depth > 3",
        r#"temperature_celsius{sensor="a"} or ignoring(sensor) temperature_celsius{sensor="b"}"#,
        "predict_linear(http_requests_total[10m], 300)",
        "deriv(last_run_timestamp_seconds[15m])",
        "quantile_over_time(0.5, last_run_timestamp_seconds[15m])",
        "stddev_over_time(last_run_timestamp_seconds[15m])",
        r#"absent(nonexistent{job="a",job="b"})"#,
        r#"absent(nonexistent{job="a",instance=~"x"})"#,
        r#"absent_over_time(nonexistent{job="a",job="b"}[1m])"#,
        "count_over_time(up[2h])",
        "max_over_time(memory_bytes[1h])",
        "timestamp(queue_depth @ {at})",
        r#"scalar(batch_in_progress{instance="10.0.2.1:9100"})"#,
        "sum by (job) (rate(http_requests_total[5m])) > bool 1",
        "vector(time()) - on() group_right timestamp(queue_depth)",
        "sum by (job) (rate(request_duration_seconds_sum[5m])) / sum by (job) (rate(request_duration_seconds_count[5m]))",
    ] {
        out.push(q(e));
    }
    out.push(instant_only(r#""a string""#));
    out.push(maybe_empty("up[5m:0s]"));
    out.push(maybe_empty(r#"label_join(up, "x", ",")"#));
    out.push(maybe_empty("vector(1)[5m:1m] @ 100"));
    // Value spelling (see KNOWN_CAIRN_BUGS).
    for e in [
        "vector(0.0000001)",
        "vector(1e21)",
        "vector(251.628814697265625)",
    ] {
        out.push(q(e));
    }
    for e in [
        "round(temperature_celsius, 0)",
        "round(temperature_celsius, -2)",
        "clamp(temperature_celsius, NaN, 10)",
        "clamp_min(temperature_celsius, NaN)",
        "histogram_quantile(NaN, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        "quantile_over_time(NaN, temperature_celsius[5m])",
        "predict_linear(temperature_celsius[5m], NaN)",
        "quantile(-1, memory_bytes)",
        "quantile(2, memory_bytes)",
        "absent_over_time(nonexistent[5m:1m])",
        "last_over_time(temperature_celsius[5m] @ {at})",
        "timestamp(timestamp(up))",
        "vector(1) and on() vector(2)",
        "time() > bool 0",
        "-(-1)",
        "1 + -queue_depth",
        "2 * (queue_depth + 1)",
        "sum(queue_depth) by (job) * on(job) group_left count by (job) (up)",
        "http_requests_total / ignoring(__name__) http_requests_total",
    ] {
        out.push(q(e));
    }
    out.push(ordered("bottomk(2, sum by (job) (memory_bytes))"));
    out.push(ordered(
        "sort_desc(sum by (job, instance) (rate(http_requests_total[5m])))",
    ));
    out.push(maybe_empty("vector(1) unless vector(1)"));
    out.push(maybe_empty("topk(NaN, memory_bytes)"));
    out.push(maybe_empty("topk(1e100, memory_bytes)"));
    out.push(maybe_empty("topk(0, memory_bytes)"));
    out.push(maybe_empty("topk(-1, memory_bytes)"));

    // Precision: Kahan summation in both for *_over_time; see VERSION_DIFFERENCES for
    // the aggregations.
    for e in [
        "cancellation",
        r#"sum_over_time(cancellation{part="mixed"}[1m])"#,
        r#"sum_over_time(cancellation{part="mixed"}[10m])"#,
        r#"avg_over_time(cancellation{part="mixed"}[1m])"#,
        r#"max(cancellation)"#,
        r#"sum(cancellation{part=~"a|c"})"#,
        r#"sum(cancellation{part="a"}) + sum(cancellation{part="b"})"#,
        r#"sum(cancellation{part=~"a|b|c"})"#,
        r#"avg(cancellation{part=~"a|b|c"})"#,
    ] {
        out.push(q(e));
    }

    // Refused by Prometheus: Cairn must refuse them too.
    for e in [
        r#"{__name__=~".*"}"#,
        r#"{job=~".*"}"#,
        "rate(up)",
        "sum(up[5m])",
        "http_requests_total / on(job) memory_bytes",
        "temperature_celsius + ignoring(sensor) temperature_celsius",
        "memory_bytes + on(job) group_left memory_bytes",
        "1 > 2",
        r#"label_replace(up, "", "x", "job", ".*")"#,
        r#"label_replace(up, "x", "y", "job", "(")"#,
        "up[5m] offset 1m)",
        "up{",
        "histogram_quantile(0.5)",
        "quantile_over_time(0.5)",
        "nonexistent_function(up)",
        "rate(temperature_celsius[5m:1m:1m])",
        r#"label_replace(up, "instance", "x", "instance", ".*")"#,
        r#"{__name__=~"queue_depth|up"} * 1"#,
        r#"-{__name__=~"queue_depth|up"}"#,
        r#"rate({__name__=~"request_duration_seconds_(sum|count)"}[5m])"#,
        "max_over_time(time()[10m:1m])",
        "max_over_time(scalar(sum(up))[10m:1m])",
        "max_over_time(1[10m:1m])",
        "rate(up[5m]) offset 1m",
        "sum(up) offset 1m",
        "up @ 100 @ 200",
        "up offset 1m offset 2m",
        "time() @ 100",
        r#"topk("a", up)"#,
        r#"count_values(5, up)"#,
        r#"label_replace(up, "a")"#,
        "abs(up, up)",
        "up and bool up",
        "1 and 1",
        "up + on(job) group_left(job) up",
        "up[5m][5m:1m]",
        "absent(up[5m])",
        "absent_over_time(up)",
        "sort(up[5m])",
        "timestamp(up[5m])",
        "predict_linear(up[5m])",
        "round(up, 1, 2)",
        r#"up{job=~"["}"#,
        "-up[5m]",
        "sum(up) by (job) without (instance)",
        "up[0s]",
        "up[5m:1m:1m]",
        r#"count_values("", up)"#,
        r#"label_join(up, "", ",", "job")"#,
    ] {
        out.push(error(e));
    }
    // Native histograms (job "native"), through the functions that turn them into floats.
    for e in [
        "histogram_count(native_latency_seconds)",
        "histogram_sum(native_latency_seconds)",
        "histogram_count(native_latency_seconds offset 5m)",
        "histogram_count(rate(native_latency_seconds[5m]))",
        "histogram_sum(rate(native_latency_seconds[2m]))",
        "histogram_sum(increase(native_latency_seconds[10m]))",
        "sum by (job) (histogram_count(rate(native_latency_seconds[5m])))",
        "histogram_count(sum by (job) (rate(native_latency_seconds[5m])))",
        "histogram_sum(sum(rate(native_latency_seconds[2m])))",
        "histogram_count(avg(rate(native_latency_seconds[5m])))",
        "histogram_quantile(0.9, rate(native_latency_seconds[5m]))",
        "histogram_quantile(0.5, sum(rate(native_latency_seconds[5m])))",
        "histogram_fraction(0, 0.1, rate(native_latency_seconds[5m]))",
        "histogram_count(rate(native_latency_seconds[5m])) / on(instance) \
         histogram_sum(rate(native_latency_seconds[5m]))",
    ] {
        out.push(q(e));
    }
    out.push(maybe_empty("histogram_count(native_latency_seconds) > 100"));
    // Not an error in 3.x (UTF-8 label names): see VERSION_DIFFERENCES.
    out.push(q(r#"label_replace(up, "1bad", "x", "job", ".*")"#));
    // A regular expression's `.` matches a newline in 3.x only: see VERSION_DIFFERENCES.
    out.push(q(r#"odd_labels{path=~"new.line"}"#));
    out
}
