import java.io.FileOutputStream;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.OffsetTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Writes Ion files with Kestra's own serializer, for e2e/test_kestra_ion.py: the rows go
 * through io.kestra.core.serializers.FileSerde.write, the method Kestra's tasks use to
 * store rows in internal storage, loaded by reflection from the io.kestra:core jar on the
 * class path (so that this file compiles with any JDK and runs on the Java Kestra needs).
 *
 *   KestraIonWriter fixed OUT.ion
 *       a few rows holding every Java type Kestra stores, as listed in the Python test;
 *   KestraIonWriter random SEED COUNT OUT.ion OUT.jsonl
 *       COUNT random rows, and beside them, one JSON line per row describing each value
 *       exactly (type tag and lossless text), for the test to compare with what it reads.
 */
public final class KestraIonWriter {
    private static Method write;

    public static void main(String[] args) throws Exception {
        write = Class.forName("io.kestra.core.serializers.FileSerde").getMethod("write", OutputStream.class, Object.class);
        if (args.length == 2 && args[0].equals("fixed")) {
            try (OutputStream out = new FileOutputStream(args[1])) {
                for (Object row : fixedRows()) {
                    write.invoke(null, out, row);
                }
            }
        } else if (args.length == 5 && args[0].equals("random")) {
            Random random = new Random(Long.parseLong(args[1]));
            int count = Integer.parseInt(args[2]);
            try (OutputStream out = new FileOutputStream(args[3]);
                 Writer described = new OutputStreamWriter(new FileOutputStream(args[4]), StandardCharsets.UTF_8)) {
                for (int index = 0; index < count; index++) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    StringBuilder description = new StringBuilder("{");
                    int fields = 1 + random.nextInt(8);
                    for (int field = 0; field < fields; field++) {
                        String name = field == 0 ? "id" : "f" + field + "_" + text(random, 3);
                        Object value = field == 0 ? (Object) (long) index : value(random, 0);
                        if (row.containsKey(name)) {
                            continue;
                        }
                        row.put(name, value);
                        if (description.length() > 1) {
                            description.append(',');
                        }
                        description.append(json(name)).append(':').append(describe(value));
                    }
                    write.invoke(null, out, row);
                    described.write(description.append("}\n").toString());
                }
            }
        } else {
            System.err.println("usage: KestraIonWriter fixed OUT.ion | random SEED COUNT OUT.ion OUT.jsonl");
            System.exit(2);
        }
    }

    // The rows e2e/test_kestra_ion.py expects, field for field.
    private static List<Object> fixedRows() {
        Map<String, Object> first = new LinkedHashMap<>();
        first.put("string", "h\u00e9llo \"q\" \\ \n\t\r \u2028\u0085 \uD83D\uDE00 }:: ::{");
        first.put("empty", "");
        first.put("int", 42);
        first.put("long", 9007199254740993L);
        first.put("negative", -7L);
        first.put("bigint", new BigInteger("-123456789012345678901234567890"));
        first.put("double", 0.1);
        first.put("float", 1.5f);
        first.put("nan", Double.NaN);
        first.put("inf", Double.NEGATIVE_INFINITY);
        first.put("negzero", -0.0);
        first.put("decimal", new BigDecimal("24000.000000"));
        first.put("decimal_exponent", new BigDecimal("1E+3"));
        first.put("decimal_small", new BigDecimal("-0.000000012345678901234567890"));
        first.put("bool", true);
        first.put("nul", null);
        first.put("date", LocalDate.of(2024, 4, 21));
        first.put("local_date_time", LocalDateTime.of(2024, 4, 21, 13, 43, 24, 340000000));
        first.put("local_date_time_minute", LocalDateTime.of(2024, 4, 21, 13, 43));
        first.put("local_time", LocalTime.of(13, 43, 24, 123456789));
        first.put("offset_time", OffsetTime.of(13, 43, 24, 0, ZoneOffset.ofHours(2)));
        first.put("zoned", ZonedDateTime.of(2024, 4, 21, 13, 43, 24, 0, ZoneId.of("Europe/Paris")));
        first.put("zoned_utc", ZonedDateTime.of(2024, 1, 2, 3, 4, 5, 0, ZoneOffset.UTC));
        first.put("offset_date_time", OffsetDateTime.of(2024, 4, 21, 13, 43, 24, 5000, ZoneOffset.ofHours(-5)));
        first.put("instant", Instant.parse("2024-04-21T13:43:24.340Z"));
        first.put("instant_nanos", Instant.parse("2024-04-21T13:43:24.123456789Z"));
        first.put("duration", Duration.ofSeconds(90));
        first.put("bytes", new byte[]{0, 1, (byte) 0xff, '\n'});
        first.put("list", Arrays.asList(1, "two", null, Arrays.asList(3.5), Collections.emptyList()));
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("a b", Collections.singletonMap("c", Collections.emptyMap()));
        nested.put("'quoted'", LocalDate.of(1999, 12, 31));
        first.put("map", nested);
        first.put("iso_text", "2024-04-21T13:43:24");
        return Arrays.asList(first, Collections.singletonMap("second", 2), Collections.emptyMap());
    }

    // Random values ---------------------------------------------------------------------

    private static final String[] ZONES = {"Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"};

    private static Object value(Random random, int depth) {
        switch (random.nextInt(depth < 2 ? 17 : 15)) {
            case 0: return text(random, 24);
            case 1: return random.nextInt();
            case 2: return random.nextLong();
            case 3: return new BigInteger(1 + random.nextInt(130), random).multiply(BigInteger.valueOf(random.nextBoolean() ? 1 : -1));
            case 4: return randomDouble(random);
            case 5: return new BigDecimal(new BigInteger(random.nextInt(140), random).multiply(BigInteger.valueOf(random.nextBoolean() ? 1 : -1)), random.nextInt(40) - 12);
            case 6: return random.nextBoolean();
            case 7: return null;
            case 8: return LocalDate.ofEpochDay(epochDay(random));
            case 9: return LocalDateTime.of(LocalDate.ofEpochDay(epochDay(random)), time(random));
            case 10: return time(random);
            case 11: {
                // From 1583 on: Kestra writes an Instant through java.util.Date, whose calendar
                // is Julian before October 1582, so older instants come out days off.
                long day = Math.max(epochDay(random), LocalDate.of(1583, 1, 1).toEpochDay());
                return Instant.ofEpochSecond(day * 86400 + random.nextInt(86400), nanos(random));
            }
            case 12: return ZonedDateTime.of(LocalDate.ofEpochDay(epochDay(random)), time(random), ZoneId.of(ZONES[random.nextInt(ZONES.length)]));
            case 13: return OffsetDateTime.of(LocalDate.ofEpochDay(epochDay(random)), time(random), ZoneOffset.ofTotalSeconds((random.nextInt(36) - 18) * 3600 + 60 * 15 * random.nextInt(4)));
            case 14: {
                byte[] bytes = new byte[random.nextInt(20)];
                random.nextBytes(bytes);
                return bytes;
            }
            case 15: {
                List<Object> list = new ArrayList<>();
                for (int index = random.nextInt(4); index > 0; index--) {
                    list.add(value(random, depth + 1));
                }
                return list;
            }
            default: {
                Map<String, Object> map = new LinkedHashMap<>();
                for (int index = random.nextInt(4); index > 0; index--) {
                    map.put(text(random, 6), value(random, depth + 1));
                }
                return map;
            }
        }
    }

    // Days from 1900 to 2200 mostly, sometimes anywhere from year 1 to 9998.
    private static long epochDay(Random random) {
        long first = random.nextInt(8) == 0 ? LocalDate.of(1, 1, 1).toEpochDay() : LocalDate.of(1900, 1, 1).toEpochDay();
        long last = random.nextInt(8) == 0 ? LocalDate.of(9998, 12, 31).toEpochDay() : LocalDate.of(2200, 1, 1).toEpochDay();
        return first + (long) (random.nextDouble() * (last - first));
    }

    private static LocalTime time(Random random) {
        LocalTime time = LocalTime.ofSecondOfDay(random.nextInt(86400)).withNano(nanos(random));
        return random.nextInt(6) == 0 ? time.withSecond(0).withNano(0) : time;  // toString drops ":00"
    }

    private static int nanos(Random random) {
        switch (random.nextInt(4)) {
            case 0: return 0;
            case 1: return random.nextInt(1000) * 1000000;
            case 2: return random.nextInt(1000000) * 1000;
            default: return random.nextInt(1000000000);
        }
    }

    private static double randomDouble(Random random) {
        switch (random.nextInt(6)) {
            case 0: return new double[]{Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0,
                                        Double.MIN_VALUE, Double.MAX_VALUE}[random.nextInt(7)];
            case 1: return random.nextInt(1000) / 8.0;
            case 2: return random.nextGaussian() * 1e6;
            default: {
                double value = Double.longBitsToDouble(random.nextLong());
                return Double.isNaN(value) ? 1.0 : value;
            }
        }
    }

    private static final String SPECIAL = "\"\\'}:{\u007f\u0085\u2028\u2029";

    // Text of every kind: ASCII, controls, quotes and backslashes, frame markers, Latin-1,
    // the line separators Python would split on, other BMP characters and astral ones.
    private static String text(Random random, int longest) {
        StringBuilder text = new StringBuilder();
        for (int index = random.nextInt(longest + 1); index > 0; index--) {
            int pick = random.nextInt(10);
            int codePoint;
            if (pick < 4) {
                codePoint = 0x20 + random.nextInt(0x5f);
            } else if (pick == 4) {
                codePoint = random.nextInt(0x20);
            } else if (pick == 5) {
                codePoint = SPECIAL.charAt(random.nextInt(SPECIAL.length()));
            } else if (pick == 6) {
                codePoint = 0xa0 + random.nextInt(0x60);
            } else if (pick < 9) {
                codePoint = 0x100 + random.nextInt(0xd800 - 0x100);
            } else {
                codePoint = 0x10000 + random.nextInt(0x100000);
            }
            text.appendCodePoint(codePoint);
        }
        return text.toString();
    }

    // Exact descriptions: ["tag", lossless text] -----------------------------------------

    private static String describe(Object value) {
        if (value == null) {
            return "[\"null\"]";
        }
        if (value instanceof String) {
            return "[\"string\"," + json((String) value) + "]";
        }
        if (value instanceof Integer || value instanceof Long || value instanceof BigInteger) {
            return "[\"int\",\"" + value + "\"]";
        }
        if (value instanceof Double) {
            return "[\"float\",\"" + Long.toHexString(Double.doubleToRawLongBits((Double) value)) + "\"]";
        }
        if (value instanceof BigDecimal) {
            BigDecimal decimal = (BigDecimal) value;
            return "[\"decimal\",\"" + decimal.unscaledValue() + "E" + (-decimal.scale()) + "\"]";
        }
        if (value instanceof Boolean) {
            return "[\"bool\"," + value + "]";
        }
        if (value instanceof LocalDate) {
            return "[\"date\",\"" + value + "\"]";
        }
        if (value instanceof LocalDateTime) {
            LocalDateTime moment = (LocalDateTime) value;
            return "[\"local_datetime\",\"" + moment.toLocalDate() + "\"," + moment.toLocalTime().toNanoOfDay() + "]";
        }
        if (value instanceof LocalTime) {
            return "[\"time\"," + ((LocalTime) value).toNanoOfDay() + "]";
        }
        if (value instanceof Instant) {
            Instant instant = (Instant) value;
            return "[\"instant\"," + instant.getEpochSecond() + "," + instant.getNano() + "]";
        }
        if (value instanceof ZonedDateTime || value instanceof OffsetDateTime) {
            OffsetDateTime moment = value instanceof ZonedDateTime ? ((ZonedDateTime) value).toOffsetDateTime() : (OffsetDateTime) value;
            return "[\"offset_datetime\",\"" + moment.toLocalDate() + "\"," + moment.toLocalTime().toNanoOfDay() + ","
                + moment.getOffset().getTotalSeconds() + "]";
        }
        if (value instanceof byte[]) {
            StringBuilder hex = new StringBuilder();
            for (byte item : (byte[]) value) {
                hex.append(String.format("%02x", item & 0xff));
            }
            return "[\"bytes\",\"" + hex + "\"]";
        }
        if (value instanceof List) {
            StringBuilder list = new StringBuilder("[\"list\",[");
            for (Object item : (List<?>) value) {
                list.append(list.charAt(list.length() - 1) == '[' ? "" : ",").append(describe(item));
            }
            return list.append("]]").toString();
        }
        StringBuilder map = new StringBuilder("[\"map\",{");
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
            map.append(map.charAt(map.length() - 1) == '{' ? "" : ",").append(json((String) entry.getKey())).append(':').append(describe(entry.getValue()));
        }
        return map.append("}]").toString();
    }

    private static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (int index = 0; index < text.length(); index++) {
            char character = text.charAt(index);
            if (character == '"' || character == '\\') {
                out.append('\\').append(character);
            } else if (character < 0x20 || character > 0x7e) {
                out.append(String.format("\\u%04x", (int) character));
            } else {
                out.append(character);
            }
        }
        return out.append('"').toString();
    }
}
