//! The benchmarks' charts as SVG files (plotters' SVG backend): lines with
//! min–max whiskers, grouped bars with whiskers, and a timeline of counts
//! per second with spans shaded. Text is SVG `<text>`, drawn by the
//! viewer's fonts: no font is read or embedded here.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

use super::spread::Spread;

/// Where the charts go unless told otherwise, under the workspace.
pub const DEFAULT_DIR: &str = "docs/img";
/// Every chart's size, in SVG pixels.
const SIZE: (u32, u32) = (1100, 560);
const FONT: &str = "sans-serif";
/// One colour per series, in order (then again).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// A line: y's spread over the runs at each x.
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// A point of a line, named beside it if `label` is given.
#[derive(Clone)]
pub struct Point {
    pub x: f64,
    pub y: Spread,
    pub label: Option<String>,
}

/// One bar: its group (an x label), its series (a legend entry), its spread.
pub struct Bar {
    pub group: String,
    pub series: String,
    pub value: Spread,
}

/// A panel of grouped bars.
pub struct Bars<'a> {
    pub y_label: &'a str,
    pub bars: &'a [Bar],
}

/// Counts per second, and spans of time to shade.
pub struct Timeline {
    /// Seconds from the start: (second, requests, failures).
    pub seconds: Vec<(f64, f64, f64)>,
    pub spans: Vec<Span>,
}

/// Something that lasted: shaded from `from` to `to`, a line at `mark`.
pub struct Span {
    pub label: String,
    pub from: f64,
    pub to: f64,
    pub mark: Option<f64>,
}

/// A white canvas titled `title`, writing to `path` (its folder made).
fn canvas<'a>(path: &'a Path, title: &str) -> anyhow::Result<Area<'a>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root.titled(title, (FONT, 22))?)
}

/// What a chart's figures are, for its title: "median and min–max of 3
/// runs".
pub fn over_runs(runs: usize) -> String {
    format!(
        "median and min–max of {runs} run{}",
        if runs == 1 { "" } else { "s" }
    )
}

/// A tick label: whole numbers from 100 up, one decimal below (and none
/// where it would be 0).
fn tick(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// `lo..hi` with some room above, never empty.
fn room(lo: f64, hi: f64) -> (f64, f64) {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    (lo, hi * 1.15)
}

/// Lines of `series` (y on a log scale: medians with their min–max), one
/// colour each, in a legend; points joined in order of x, named if given.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let root = canvas(path, title)?;
    let all = || series.iter().flat_map(|s| &s.points);
    let (_, x_max) = room(0.0, all().map(|p| p.x).fold(0.0, f64::max));
    let y_min = all().map(|p| p.y.min).fold(f64::INFINITY, f64::min);
    let y_max = all().map(|p| p.y.max).fold(0.0, f64::max);
    let y_min = if y_min.is_finite() && y_min > 0.0 {
        y_min / 1.5
    } else {
        0.1
    };
    let (_, y_max) = room(y_min, y_max);
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .max_light_lines(0)
        .label_style((FONT, 14))
        .draw()?;
    let cap = x_max / 200.0;
    for (i, s) in series.iter().enumerate() {
        let style = colour(i).stroke_width(2);
        let mut points = s.points.clone();
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.x, p.y.median)),
                style,
            ))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.x, p.y.median), 4, colour(i).filled())),
        )?;
        chart.draw_series(points.iter().map(|p| {
            let (x, y) = (p.x, p.y);
            PathElement::new(
                [
                    (x - cap, y.min),
                    (x + cap, y.min),
                    (x, y.min),
                    (x, y.max),
                    (x - cap, y.max),
                    (x + cap, y.max),
                ],
                style,
            )
        }))?;
        chart.draw_series(points.iter().filter_map(|p| {
            let label = p.label.clone()?;
            Some(Text::new(
                label,
                (p.x + 2.0 * cap, p.y.max * 1.08),
                (FONT, 13),
            ))
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

/// Panels of grouped bars side by side (medians, min–max whiskers).
pub fn bars(path: &Path, title: &str, panels: &[Bars]) -> anyhow::Result<()> {
    let root = canvas(path, title)?;
    for (area, panel) in root
        .split_evenly((1, panels.len().max(1)))
        .iter()
        .zip(panels)
    {
        bar_panel(area, panel)?;
    }
    root.present()?;
    Ok(())
}

/// The x axis of grouped bars: slot `i` spans `i - 0.5..i + 0.5`, its
/// tick (and label) at `i`.
struct Slots(usize);

impl Ranged for Slots {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let Range { start, end } = self.range();
        let share = (value - start) / (end - start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _: H) -> Vec<f64> {
        (0..self.0).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.0 as f64 - 0.5
    }
}

/// One panel: a slot per group on x (named below it), a bar per series in
/// each slot.
fn bar_panel(area: &Area, panel: &Bars) -> anyhow::Result<()> {
    let groups = super::distinct(panel.bars.iter().map(|b| b.group.as_str()));
    let series = super::distinct(panel.bars.iter().map(|b| b.series.as_str()));
    let (_, y_max) = room(
        0.0,
        panel.bars.iter().map(|b| b.value.max).fold(0.0, f64::max),
    );
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(Slots(groups.len().max(1)), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| {
            groups
                .get(x.round().max(0.0) as usize)
                .map_or(String::new(), |g| (*g).to_owned())
        })
        .y_desc(panel.y_label)
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, 14))
        .draw()?;
    let width = 0.8 / series.len().max(1) as f64;
    for (i, name) in series.iter().enumerate() {
        let place = |bar: &Bar| {
            let slot = groups.iter().position(|g| *g == bar.group).unwrap_or(0);
            slot as f64 - 0.4 + width * i as f64
        };
        let mine = || panel.bars.iter().filter(|b| b.series == *name);
        let fill = colour(i).filled();
        chart
            .draw_series(mine().map(|b| {
                let left = place(b);
                Rectangle::new([(left, 0.0), (left + width * 0.9, b.value.median)], fill)
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], fill));
        chart.draw_series(mine().map(|b| {
            let (mid, cap) = (place(b) + width * 0.45, width * 0.2);
            let (lo, hi) = (b.value.min, b.value.max);
            PathElement::new(
                [
                    (mid - cap, lo),
                    (mid + cap, lo),
                    (mid, lo),
                    (mid, hi),
                    (mid - cap, hi),
                    (mid + cap, hi),
                ],
                BLACK.stroke_width(1),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// Requests per second above, failures per second below, each span
/// shaded in both and named in the upper one.
pub fn timeline(path: &Path, title: &str, timeline: &Timeline) -> anyhow::Result<()> {
    let root = canvas(path, title)?;
    let (upper, lower) = root.split_vertically(SIZE.1 * 3 / 5);
    let requests: Vec<(f64, f64)> = timeline.seconds.iter().map(|s| (s.0, s.1)).collect();
    let failures: Vec<(f64, f64)> = timeline.seconds.iter().map(|s| (s.0, s.2)).collect();
    counts_panel(&upper, timeline, "requests/s", &requests, colour(0), true)?;
    counts_panel(
        &lower,
        timeline,
        "failed requests/s",
        &failures,
        colour(3),
        false,
    )?;
    root.present()?;
    Ok(())
}

/// One panel of [`timeline`]: `counts` per second as a line, the spans
/// shaded (and named when `named`).
fn counts_panel(
    area: &Area,
    timeline: &Timeline,
    y_label: &str,
    counts: &[(f64, f64)],
    colour: RGBColor,
    named: bool,
) -> anyhow::Result<()> {
    let ends = counts.iter().map(|c| c.0 + 1.0);
    let x_max = ends
        .chain(timeline.spans.iter().map(|s| s.mark.unwrap_or(s.to)))
        .fold(1.0, f64::max);
    let (_, y_max) = room(0.0, counts.iter().map(|c| c.1).fold(1.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(76)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start")
        .y_desc(y_label)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, 14))
        .draw()?;
    for (i, span) in timeline.spans.iter().enumerate() {
        let shade = self::colour(i + 1);
        chart.draw_series([Rectangle::new(
            [(span.from, 0.0), (span.to.max(span.from + 0.2), y_max)],
            shade.mix(0.2).filled(),
        )])?;
        if let Some(mark) = span.mark {
            chart.draw_series([PathElement::new(
                [(mark, 0.0), (mark, y_max)],
                shade.stroke_width(2),
            )])?;
        }
        if named {
            chart.draw_series([Text::new(
                span.label.clone(),
                (span.from, y_max * (0.97 - 0.07 * i as f64)),
                (FONT, 13),
            )])?;
        }
    }
    chart
        .draw_series(LineSeries::new(
            counts.iter().copied(),
            colour.stroke_width(2),
        ))?
        .label(y_label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// The chart's legend, boxed, at `position`.
fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(values: &[f64]) -> Spread {
        Spread::of(values.iter().copied()).expect("values")
    }

    #[test]
    fn ticks() {
        assert_eq!(
            [tick(20000.0), tick(150.4), tick(2.0), tick(2.5), tick(0.2)],
            ["20000", "150", "2", "2.5", "0.2"]
        );
    }

    fn point(x: f64, y: &[f64], label: Option<&str>) -> Point {
        Point {
            x,
            y: spread(y),
            label: label.map(str::to_owned),
        }
    }

    /// A written chart, parsed as XML: an `<svg>` root; and its text.
    fn written(path: &Path) -> String {
        let text = std::fs::read_to_string(path).expect("the chart was written");
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-chart-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Lines: a valid SVG (in a folder made for it) naming every series,
    /// names with markup characters included.
    #[test]
    fn lines_name_every_series() {
        let path = dir("lines").join("deep/bench-latency.svg");
        let series = [
            Series {
                name: "comptoir p50".into(),
                points: vec![
                    point(40.0, &[1.0, 1.1, 1.3], None),
                    point(230.0, &[4.9], None),
                ],
            },
            Series {
                name: "Spin p99 <& >".into(),
                points: vec![point(39.0, &[60.0, 62.0, 70.0], Some("40/s"))],
            },
        ];
        lines(&path, "latency", "flows/s", "ms", &series).unwrap();
        let text = written(&path);
        for name in ["comptoir p50", "Spin p99 <& >", "latency", "40/s"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).unwrap());
    }

    /// Bars: every group and series named, in each panel.
    #[test]
    fn bars_name_groups_and_series() {
        let path = dir("bars").join("bench-cpu.svg");
        let bar = |group: &str, series: &str, v: &[f64]| Bar {
            group: group.into(),
            series: series.into(),
            value: spread(v),
        };
        let cpu = [
            bar("(b) 10 VUs", "server", &[2.8, 2.9, 3.1]),
            bar("(b) 10 VUs", "PostgreSQL", &[2.9]),
            bar("floor 10 clients", "PostgreSQL", &[2.1, 2.2, 2.4]),
        ];
        let rps = [bar("comptoir", "requests/s", &[10000.0, 11000.0, 9000.0])];
        let panels = [
            Bars {
                y_label: "CPU-ms per flow",
                bars: &cpu,
            },
            Bars {
                y_label: "requests/s",
                bars: &rps,
            },
        ];
        bars(&path, "CPU per flow", &panels).unwrap();
        let text = written(&path);
        for name in [
            "(b) 10 VUs",
            "floor 10 clients",
            "server",
            "PostgreSQL",
            "comptoir",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// The timeline names its spans and both counts.
    #[test]
    fn timeline_names_spans_and_counts() {
        let path = dir("timeline").join("drill-timeline.svg");
        let timeline = Timeline {
            seconds: (0..30)
                .map(|s| (s as f64, 100.0, (s == 12) as u8 as f64))
                .collect(),
            spans: vec![Span {
                label: "docker kill comptoir-1".into(),
                from: 10.0,
                to: 20.0,
                mark: Some(21.5),
            }],
        };
        super::timeline(&path, "drill", &timeline).unwrap();
        let text = written(&path);
        for name in ["docker kill comptoir-1", "requests/s", "failed requests/s"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
