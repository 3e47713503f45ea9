import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/index.js';
import {
  buildSdCliArgs,
  imageInputArgs,
  LineSplitter,
  parseProgressLine,
  textEncoderFlag,
} from '../../src/engines/sd-cpp/index.js';
import { ImageTaskSchema, VideoTaskSchema, type CliDefaults } from '../../src/protocol/index.js';

const defaults: CliDefaults = { cfgScale: 1, steps: 8, width: 1024, height: 1024 };

describe('sd-cli arguments', () => {
  it('puts every image task field and model default under its sd-cli flag', () => {
    const task = ImageTaskSchema.parse({
      kind: 'image',
      prompt: 'a lighthouse',
      negativePrompt: 'blurry',
      width: 768,
      height: 512,
      steps: 12,
      cfgScale: 4.5,
      samplingMethod: 'dpm++2m',
      seed: 7,
      denoise: 0.6,
    });
    const args = buildSdCliArgs(
      task,
      { ...defaults, flowShift: 3, offloadToCpu: true, zeroCondT: true, samplingMethod: 'euler' },
      {
        'diffusion-model': ['/m/qwen-image-Q4.gguf'],
        'text-encoder': ['/m/Qwen2.5-VL-7B.gguf'],
        'text-encoder-vision': ['/m/mmproj-Qwen2.5-VL.gguf'],
        vae: ['/m/qwen_image_vae.safetensors'],
        lora: ['/m/loras/a.safetensors', '/m/loras/sub/b.safetensors'],
      },
      { output: '/w/out.png', initImage: '/w/init.png', mask: '/w/mask.png', refImage: '/w/ref.png' },
    );
    expect(args).toEqual([
      '--diffusion-model', '/m/qwen-image-Q4.gguf',
      '--llm', '/m/Qwen2.5-VL-7B.gguf',
      '--llm_vision', '/m/mmproj-Qwen2.5-VL.gguf',
      '--vae', '/m/qwen_image_vae.safetensors',
      '--lora-model-dir', '/m/loras',
      '-p', 'a lighthouse<lora:a.safetensors:1><lora:sub/b.safetensors:1>',
      '-n', 'blurry',
      '-W', '768', '-H', '512',
      '--steps', '12',
      '--cfg-scale', '4.5',
      '--sampling-method', 'dpm++2m',
      '-s', '7',
      '--flow-shift', '3',
      '--offload-to-cpu',
      '--qwen-image-zero-cond-t',
      '-r', '/w/ref.png',
      '--mask', '/w/mask.png',
      '-o', '/w/out.png',
    ]); // prettier-ignore
  });

  it('takes steps, cfg and sampler of a video from the model defaults and asks for seconds × fps frames', () => {
    const task = VideoTaskSchema.parse({
      kind: 'video',
      prompt: 'waves',
      seconds: 2,
      fps: 8,
      width: 832,
      height: 480,
    });
    const args = buildSdCliArgs(
      task,
      { ...defaults, steps: 30, cfgScale: 6, samplingMethod: 'euler', flowShift: 3 },
      {
        'diffusion-model': [
          '/m/Wan2.2-T2V-A14B-LowNoise-Q8_0.gguf',
          '/m/Wan2.2-T2V-A14B-HighNoise-Q8_0.gguf',
        ],
        'text-encoder': ['/m/umt5-xxl-encoder-Q8_0.gguf'],
        'text-encoder-vision': ['/m/clip_vision_h.safetensors'],
        vae: ['/m/wan_2.1_vae.safetensors'],
      },
      { output: '/w/frames/frame_%05d.png', initImage: '/w/init.png' },
    );
    expect(args).toEqual([
      '-M', 'vid_gen',
      '--diffusion-model', '/m/Wan2.2-T2V-A14B-LowNoise-Q8_0.gguf',
      '--high-noise-diffusion-model', '/m/Wan2.2-T2V-A14B-HighNoise-Q8_0.gguf',
      '--t5xxl', '/m/umt5-xxl-encoder-Q8_0.gguf',
      '--clip_vision', '/m/clip_vision_h.safetensors',
      '--vae', '/m/wan_2.1_vae.safetensors',
      '-p', 'waves',
      '-W', '832', '-H', '480',
      '--steps', '30',
      '--cfg-scale', '6',
      '--sampling-method', 'euler',
      '--flow-shift', '3',
      '-i', '/w/init.png',
      '--video-frames', '16', '--fps', '8',
      '-o', '/w/frames/frame_%05d.png',
    ]); // prettier-ignore
  });

  it('passes a full checkpoint with -m and leaves out what the task does not set', () => {
    const task = ImageTaskSchema.parse({ kind: 'image', prompt: 'p' });
    expect(buildSdCliArgs(task, defaults, { model: ['/m/sd_xl_turbo.safetensors'] }, { output: 'o.png' })).toEqual([
      '-m', '/m/sd_xl_turbo.safetensors',
      '-p', 'p',
      '-W', '512', '-H', '512',
      '--steps', '20',
      '--cfg-scale', '1',
      '-o', 'o.png',
    ]); // prettier-ignore
  });

  it('maps text encoders by the hints in their file names', () => {
    expect(textEncoderFlag('/m/clip_l.safetensors')).toBe('--clip_l');
    expect(textEncoderFlag('/m/CLIP-G.safetensors')).toBe('--clip_g');
    expect(textEncoderFlag('/m/t5xxl_fp16.safetensors')).toBe('--t5xxl');
    expect(textEncoderFlag('/m/umt5-xxl-encoder-Q8_0.gguf')).toBe('--t5xxl');
    expect(textEncoderFlag('/m/qwen_3_4b.safetensors')).toBe('--llm');
    expect(textEncoderFlag('/m/Mistral-Small-3.2-24B.gguf')).toBe('--llm');
    expect(textEncoderFlag('/m/encoder.gguf')).toBe('--llm');
  });

  it('refuses, as the job’s fault, a model source sd-cli cannot run', () => {
    const task = ImageTaskSchema.parse({ kind: 'image', prompt: 'p' });
    const thrown = (files: Parameters<typeof buildSdCliArgs>[2]): unknown => {
      try {
        buildSdCliArgs(task, defaults, files, { output: 'o.png' });
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const cases: Array<[Parameters<typeof buildSdCliArgs>[2], RegExp]> = [
      [{ vae: ['/m/ae.safetensors'] }, /needs a "diffusion-model" or "model" file/],
      [
        { 'diffusion-model': ['/m/d.gguf'], 'text-encoder': ['/m/a.gguf', '/m/b.gguf'] },
        /two text encoders map to sd-cli --llm/,
      ],
      [{ 'diffusion-model': ['/m/a.gguf', '/m/b.gguf'] }, /cannot tell these diffusion models apart/],
      [
        { 'diffusion-model': ['/m/d.gguf'], lora: ['/m/l/a.safetensors', '/m/l/we:ird.safetensors'] },
        /cannot be named/,
      ],
    ];
    for (const [files, message] of cases) {
      const error = thrown(files);
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ retryable: false, message: expect.stringMatching(message) as unknown });
    }
  });
});

describe('sd-cli progress', () => {
  it('reads the step, the step count and the speed off the in-place progress bar', () => {
    const bar = '  |=========================>                        | 10/20 - 1.25s/it\x1b[K';
    expect(parseProgressLine(bar)).toEqual({ step: 10, steps: 20, secondsPerStep: 1.25 });
    expect(
      parseProgressLine('  |==================================================| 4/4 - 4.00it/s'),
    ).toEqual({
      step: 4,
      steps: 4,
      secondsPerStep: 0.25,
    });
  });

  it('ignores log lines and byte-rate loading bars', () => {
    expect(
      parseProgressLine('[INFO ] stable-diffusion.cpp:3107 - generating image: 1/1 - seed 42'),
    ).toBeUndefined();
    expect(parseProgressLine('  |=====>      | 120/600 - 850.12MB/s')).toBeUndefined();
  });

  it('splits output on carriage returns as well as newlines, keeping a partial line for later', () => {
    const lines = new LineSplitter();
    expect(lines.push('[INFO ] a\n\r  |=>  | 1/3 - 1.00s/it\x1b[K\r  |==')).toEqual([
      '[INFO ] a',
      '  |=>  | 1/3 - 1.00s/it\x1b[K',
    ]);
    expect(lines.push('> | 2/3 - 1.00s/it\r\n')).toEqual(['  |==> | 2/3 - 1.00s/it']);
    expect(lines.push('tail')).toEqual([]);
    expect(lines.flush()).toEqual(['tail']);
  });
});

describe('imageInputArgs (the original sdcpp.rs combination of ref, init, mask and denoise)', () => {
  it('a reference image wins: -r, then the mask; no init image and no strength', () => {
    expect(imageInputArgs(0.4, { refImage: '/r.png', initImage: '/i.png', mask: '/m.png' })).toEqual([
      '-r', '/r.png', '--mask', '/m.png',
    ]); // prettier-ignore
    expect(imageInputArgs(undefined, { refImage: '/r.png' })).toEqual(['-r', '/r.png']);
  });

  it('an init image is img2img with the task denoise as strength, 0.75 when it names none', () => {
    expect(imageInputArgs(0.3, { initImage: '/i.png', mask: '/m.png' })).toEqual([
      '-i', '/i.png', '--strength', '0.3', '--mask', '/m.png',
    ]); // prettier-ignore
    expect(imageInputArgs(undefined, { initImage: '/i.png' })).toEqual([
      '-i',
      '/i.png',
      '--strength',
      '0.75',
    ]);
  });

  it('passes denoise outside 0–1 as given, as the original does', () => {
    expect(imageInputArgs(1.5, { initImage: '/i.png' })).toEqual(['-i', '/i.png', '--strength', '1.5']);
  });

  it('a mask alone, or a denoise without an image, adds nothing', () => {
    expect(imageInputArgs(0.5, { mask: '/m.png' })).toEqual([]);
    expect(imageInputArgs(0.5, {})).toEqual([]);
  });
});
