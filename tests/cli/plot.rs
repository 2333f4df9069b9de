//! End to end: `caugym plot` draws overlaid runs into PNG files whose pixels land where the
//! documented panel geometry puts the data, and names the file and line of a bad log.

use std::path::Path;
use std::process::{Command, Output};

fn caugym(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caugym"))
        .args(args)
        .output()
        .unwrap()
}

fn write_metrics(dir: &Path, lines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// (width, height, RGB bytes) of a PNG file.
fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> (u8, u8, u8) {
    let i = ((y * img.0 + x) * 3) as usize;
    (img.2[i], img.2[i + 1], img.2[i + 2])
}

#[test]
fn overlaid_runs_land_where_the_axes_put_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("grpo"), tmp.path().join("sft"));
    // Run a: a kink at step 4, value 0.8. Run b: a straight fall from 1 to 0. Both also log a
    // learning rate, which a loss figure must not show.
    write_metrics(
        &a,
        &[
            r#"{"step":0,"loss/total":0.0,"optim/lr":1e-3}"#,
            r#"{"step":4,"loss/total":0.8,"optim/lr":1e-3}"#,
            r#"{"step":10,"loss/total":1.0,"optim/lr":1e-3}"#,
        ],
    );
    write_metrics(
        &b,
        &[
            r#"{"step":0,"loss/total":1.0}"#,
            r#"{"step":10,"loss/total":0.0}"#,
        ],
    );
    let out = tmp.path().join("plots");
    let o = caugym(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        "loss/total",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = decode(&out.join("loss_total.png"));
    // One panel of 640 x 360 under a 40 px title and one 24 px legend row plus 8 px.
    assert_eq!((img.0, img.1), (640, 40 + 24 + 8 + 360));
    // The plot rectangle spans x 70..620 and y 102..392 (margins 70, 20, 30, 40). The axes are
    // steps 0..10 (ticks of 2) and 0..1 (ticks of 0.2), so step 4 at 0.8 is at
    // x = 70 + 0.4 * 550 = 290, y = 392 - 0.8 * 290 = 160: run a's marker, in its colour.
    let blue = (31, 119, 180);
    let orange = (255, 127, 14);
    assert_eq!(pixel(&img, 290, 160), blue);
    // Its mirror image (step 4 at 0.2, y = 334) holds no curve, only the grid line of tick 4.
    assert_eq!(pixel(&img, 290, 334), (228, 228, 228));
    // Run b at step 10, value 0 is the bottom-right corner (620, 392); half-way along its line,
    // step 5 at 0.5, is (345, 247).
    assert_eq!(pixel(&img, 620, 392), orange);
    assert_eq!(pixel(&img, 345, 247), orange);
    // Both colours also appear in the legend strip (y 64..72 is below it: only the title and
    // legend are above the panel).
    let legend: Vec<_> = (40..64)
        .flat_map(|y| (0..640).map(move |x| (x, y)))
        .map(|(x, y)| pixel(&img, x, y))
        .collect();
    assert!(legend.contains(&blue) && legend.contains(&orange));

    // Default figures: only groups some run logs (loss and optim here), each one file.
    let all = tmp.path().join("all");
    let o = caugym(&["plot", a.to_str().unwrap(), "--out", all.to_str().unwrap()]);
    assert!(o.status.success());
    let mut files: Vec<String> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["loss.png", "optim.png"]);
}

#[test]
fn a_bad_log_is_an_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r");
    write_metrics(
        &run,
        &[
            r#"{"step":1,"loss/total":1.0}"#,
            "{not json",
            r#"{"step":3,"loss/total":0.5}"#,
        ],
    );
    let o = caugym(&[
        "plot",
        run.to_str().unwrap(),
        "--out",
        tmp.path().join("p").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let path = run.join("metrics.jsonl");
    assert!(
        err.contains(&format!("{}:2: not valid JSON", path.display())),
        "{err}"
    );
    // A directory without a log names the file it looked for.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = caugym(&["plot", empty.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&empty.join("metrics.jsonl").display().to_string()),
        "{err}"
    );
}
