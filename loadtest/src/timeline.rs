//! `timeline.svg`: per app, the share of responses from each Region and the share of errors,
//! second by second, with the marks and the Region switches drawn across.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{AppReport, Report};

const WIDTH: u32 = 1100;
const PANEL_HEIGHT: u32 = 240;
const TITLE_HEIGHT: u32 = 36;

/// The timeline of `report` as an SVG document.
pub(crate) fn render(report: &Report) -> Result<String, String> {
    let mut svg = String::new();
    {
        let panels = u32::try_from(report.apps.len().max(1)).unwrap_or(1);
        let size = (WIDTH, TITLE_HEIGHT + PANEL_HEIGHT * panels);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title, body) = root.split_vertically(TITLE_HEIGHT);
        let heading = format!(
            "loadtest {} scenario: {:.1} s at {} requests/s per app (lines: % of each second's responses per Region; red: % errors; grey: marks; blue: switches)",
            report.scenario, report.duration_seconds, report.settings.rate_per_app
        );
        title
            .draw_text(
                &heading,
                &("sans-serif", 14).into_font().color(&BLACK),
                (10, 12),
            )
            .map_err(|e| e.to_string())?;
        let areas = body.split_evenly((report.apps.len().max(1), 1));
        for (area, app) in areas.iter().zip(&report.apps) {
            draw_app(area, report, app)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn region_color(index: usize) -> RGBColor {
    match index {
        0 => RGBColor(31, 119, 180),
        1 => RGBColor(44, 160, 44),
        n => {
            let c = Palette99::pick(n + 2).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

fn draw_app<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    app: &AppReport,
) -> Result<(), String> {
    let err = |e: plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let x_max = report.duration_seconds.max(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: {} requests, {} errors, {} switches",
                app.app,
                app.requests,
                app.errors.total,
                app.switches.len()
            ),
            ("sans-serif", 14),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..x_max, 0f64..112f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("% of responses")
        .draw()
        .map_err(err)?;
    let share = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            n as f64 * 100.0 / of as f64
        }
    };
    for (i, region) in report.regions.iter().enumerate() {
        let color = region_color(i);
        let points: Vec<(f64, f64)> = app
            .seconds
            .iter()
            .filter(|s| s.completed > 0)
            .map(|s| {
                let n = s.by_region.get(region.as_str()).copied().unwrap_or(0);
                (s.second as f64 + 0.5, share(n, s.completed))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(region.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    let errors: Vec<(f64, f64)> = app
        .seconds
        .iter()
        .filter(|s| s.completed > 0)
        .map(|s| (s.second as f64 + 0.5, share(s.errors, s.completed)))
        .collect();
    chart
        .draw_series(LineSeries::new(errors, RED.stroke_width(2)))
        .map_err(err)?
        .label("errors")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    let vertical = |x: f64, color: RGBAColor| PathElement::new(vec![(x, 0.0), (x, 112.0)], color);
    let font = ("sans-serif", 11).into_font().color(&BLACK);
    // Labels start at their line, or end at it in the last quarter so they stay inside.
    let label_style = |x: f64| {
        let anchor = if x > x_max * 0.75 {
            HPos::Right
        } else {
            HPos::Left
        };
        font.clone().pos(Pos::new(anchor, VPos::Top))
    };
    // Labels of nearby events would overlap: they take turns on three rows.
    let row = |i: usize, top: f64| top - 7.0 * (i % 3) as f64;
    for (i, mark) in report.marks.iter().enumerate() {
        chart
            .draw_series([vertical(mark.at_seconds, BLACK.mix(0.4))])
            .map_err(err)?;
        let at = (mark.at_seconds, row(i, 108.0));
        chart
            .draw_series([Text::new(
                mark.label.clone(),
                at,
                label_style(mark.at_seconds),
            )])
            .map_err(err)?;
    }
    for (i, switch) in app.switches.iter().enumerate() {
        chart
            .draw_series([vertical(switch.at_seconds, BLUE.mix(0.8))])
            .map_err(err)?;
        let text = format!(
            "-> {} (mixed {:.1} s)",
            switch.to, switch.mixed_window_seconds
        );
        let at = (switch.at_seconds, row(i, 80.0));
        chart
            .draw_series([Text::new(text, at, label_style(switch.at_seconds))])
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)?;
    Ok(())
}
