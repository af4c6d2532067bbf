/**
 * The weather in each bed, made up but repeatable, so the demo tells the same story every run:
 * bed-1 stays comfortable, bed-2 overheats and then cools down, bed-3 slowly dries out.
 */
export interface Climate {
  celsius: number;
  humidity: number;
}

const round = (value: number) => Math.round(value * 10) / 10;

/** What the sensor of `bed` measures at its `sequence`th reading. */
export function climate(bed: string, sequence: number): Climate {
  switch (bed) {
    case "bed-2":
      return { celsius: round(sequence <= 12 ? 24 + 0.6 * sequence : 31.2 - 0.8 * (sequence - 12)), humidity: 60 };
    case "bed-3":
      return { celsius: 23, humidity: round(52 - 1.2 * sequence) };
    default:
      return { celsius: round(21 + 0.5 * Math.sin(sequence / 3)), humidity: 55 };
  }
}

/** The safe range of a bed: what the monitor raises an alert for when a reading leaves it. */
export function problemOf({ celsius, humidity }: Climate): string {
  if (celsius > 30) return "too hot";
  if (celsius < 10) return "too cold";
  if (humidity < 35) return "too dry";
  return "";
}
