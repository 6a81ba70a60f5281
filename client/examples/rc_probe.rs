// Throwaway: keyframe sizes from openh264 on the noisy picture.
use termcall::media::frame::Frame;
use termcall::media::h264::H264Encoder;
use termcall::media::testsrc;

fn main() {
    for (w, h, kbps) in [(640u32, 480u32, 950u32), (640, 480, 400), (480, 360, 300), (320, 240, 200)] {
        for start_div in [1, 3] {
            let mut enc = H264Encoder::new(w, h, 15.0, kbps / start_div, 10000).unwrap();
            enc.set_bitrate(kbps * 1000, 1_700_000).unwrap();
            let mut src = Frame::new(w, h);
            let mut seed = 1u32;
            let mut sizes = vec![];
            for n in 0..45u64 {
                testsrc::camera_like(&mut src, n, &mut seed);
                if n == 30 { enc.force_keyframe(); }
                sizes.push(enc.encode(&src).unwrap().len());
            }
            let p: usize = sizes[20..30].iter().sum::<usize>() / 10;
            println!("{w}x{h} {kbps} start/{start_div}: first {:?}, P ~{p}, forced key {} then {:?}", &sizes[..4], sizes[30], &sizes[31..35]);
        }
    }
}
