/** The options of background removal, as callers give them, and their checks. */

export type BackgroundMode = 'document' | 'photo' | 'plain';
export type BackgroundOutput = 'transparent' | 'color' | 'mask';
export type InkColour = 'original' | 'black' | 'blue';

export interface BackgroundOptions {
  mode: BackgroundMode;
  output: BackgroundOutput;
  /** '#rrggbb', the background for output 'color'; default '#ffffff'. */
  color?: string;
  /** Document mode: 0-100, how much faint ink/paper texture is removed; default 50. */
  strength?: number;
  /** Document mode: keep the ink's colour or recolour it; default 'original'. */
  ink?: InkColour;
}

export interface BackgroundResult {
  /** The encoded result. */
  bytes: Uint8Array;
  type: 'png' | 'jpeg';
  width: number;
  height: number;
  /** What was done, in a short phrase fit to show a user, e.g. "U²-Net (u2netp) mask, refined; plain-background repair". */
  method: string;
}

/** The options with defaults filled in and checked; plain data, so it can be sent to the worker. */
export interface ResolvedOptions {
  mode: BackgroundMode;
  output: BackgroundOutput;
  color: [number, number, number];
  strength: number;
  ink: InkColour;
}

const MODES: readonly string[] = ['document', 'photo', 'plain'];
const OUTPUTS: readonly string[] = ['transparent', 'color', 'mask'];
const INKS: readonly string[] = ['original', 'black', 'blue'];

/** '#rrggbb' to [r, g, b]; RangeError for anything else. */
export function parseHexColour(colour: string): [number, number, number] {
  const match = /^#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$/.exec(colour);
  if (!match) throw new RangeError(`The background colour must look like "#rrggbb"; got ${JSON.stringify(colour)}.`);
  return [parseInt(match[1]!, 16), parseInt(match[2]!, 16), parseInt(match[3]!, 16)];
}

/**
 * Checks options and fills in the defaults. Callers validate user input first (zod in the feature), so a bad
 * value here is a programming error: RangeError.
 */
export function resolveOptions(options: Partial<BackgroundOptions>, defaults: { mode?: BackgroundMode } = {}): ResolvedOptions {
  const mode = options.mode ?? defaults.mode;
  if (typeof mode !== 'string' || !MODES.includes(mode)) throw new RangeError(`mode must be one of ${MODES.join(', ')}; got ${JSON.stringify(mode)}.`);
  if (typeof options.output !== 'string' || !OUTPUTS.includes(options.output)) {
    throw new RangeError(`output must be one of ${OUTPUTS.join(', ')}; got ${JSON.stringify(options.output)}.`);
  }
  const strength = options.strength ?? 50;
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < 0 || strength > 100) {
    throw new RangeError(`strength must be a number from 0 to 100; got ${JSON.stringify(strength)}.`);
  }
  const ink = options.ink ?? 'original';
  if (!INKS.includes(ink)) throw new RangeError(`ink must be one of ${INKS.join(', ')}; got ${JSON.stringify(ink)}.`);
  return { mode, output: options.output, color: parseHexColour(options.color ?? '#ffffff'), strength, ink } as ResolvedOptions;
}
