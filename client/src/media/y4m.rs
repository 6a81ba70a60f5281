//! A YUV4MPEG2 (.y4m) file as a looping video source. 8-bit 4:2:0 only (C420*, the default).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::frame::Frame;
use super::pixfmt::yuv420_to_rgb;
use super::scale::scale_into;

/// An open .y4m file, read frame by frame and rewound at the end.
pub struct Y4m {
    path: PathBuf,
    reader: BufReader<File>,
    data_start: u64,
    pub width: u32,
    pub height: u32,
    yuv: Vec<u8>,
    rgb: Frame,
}

impl Y4m {
    /// Opens and checks the header; the error names the file and the problem.
    pub fn open(path: &Path) -> Result<Y4m, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        let mut reader = BufReader::new(file);
        let mut header = String::new();
        reader.read_line(&mut header).map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut fields = header.trim_end().split(' ');
        if fields.next() != Some("YUV4MPEG2") {
            return Err(format!("{name} is not a YUV4MPEG2 file"));
        }
        let (mut width, mut height) = (0u32, 0u32);
        for f in fields {
            let (tag, value) = f.split_at(f.len().min(1));
            match tag {
                "W" => width = value.parse().unwrap_or(0),
                "H" => height = value.parse().unwrap_or(0),
                "C" if !value.starts_with("420") => {
                    return Err(format!("{name}: colour space C{value} is not supported; use 8-bit 4:2:0 (C420)"));
                }
                _ => {}
            }
        }
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(format!("{name}: no valid W and H in the header"));
        }
        let data_start = reader.stream_position().map_err(|e| format!("{name}: {e}"))?;
        let size = width as usize * height as usize + 2 * (width.div_ceil(2) as usize * height.div_ceil(2) as usize);
        let mut y = Y4m { path: path.to_owned(), reader, data_start, width, height, yuv: vec![0; size], rgb: Frame::new(width, height) };
        y.read_raw().map_err(|e| format!("{name}: no frame could be read: {e}"))?;
        y.rewind().map_err(|e| format!("{name}: {e}"))?;
        Ok(y)
    }

    fn rewind(&mut self) -> std::io::Result<()> {
        self.reader.seek(SeekFrom::Start(self.data_start)).map(|_| ())
    }

    fn read_raw(&mut self) -> std::io::Result<()> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if !line.starts_with("FRAME") {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "expected FRAME"));
        }
        self.reader.read_exact(&mut self.yuv)
    }

    /// The next frame (looping at the end), scaled into `out`.
    pub fn next_into(&mut self, out: &mut Frame) -> Result<(), String> {
        if self.read_raw().is_err() {
            self.rewind().map_err(|e| format!("{}: {e}", self.path.display()))?;
            self.read_raw().map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        yuv420_to_rgb(&self.yuv, self.width, self.height, &mut self.rgb);
        scale_into(&self.rgb, out);
        Ok(())
    }
}

