import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Reads an Ion file with Kestra's own deserializer, for e2e/test_kestra_ion.py: the rows go
 * through every reading method of io.kestra.core.serializers.FileSerde that Kestra's tasks
 * use and that the io.kestra:core jar on the class path has, loaded by reflection (so that
 * this file compiles with any JDK, without Kestra's jars, and runs on the Java Kestra needs).
 *
 *   KestraIonReader IN.ion
 *
 * prints, in ASCII:
 *   path NAME COUNT            for each reading method found: how many rows it gave;
 *   path NAME failed: ERROR    for one that threw;
 *   row DESCRIPTION            one line per row, as the first method read it;
 *   difference NAME ...        where a method read otherwise than the first (at most 5 per
 *                              method), and then exits with 3 (also when a method failed).
 *
 * A description is exact: the Java class's simple name, then its value. Double and Float
 * as their raw bits in hex, BigDecimal as its unscaled value and scale, byte[] in hex,
 * text quoted, each character outside printable ASCII written as a backslash, "u" and its
 * code point in hex between braces (u{e9}); dates, times and numbers by their toString,
 * maps with their keys in order, lists item by item.
 */
public final class KestraIonReader {
    private static final int DIFFERENCES_SHOWN = 5;

    /** One way Kestra's tasks read a stored file: the rows it gives, in order. */
    private interface ReadingMethod {
        List<Object> read(File file) throws Exception;
    }

    private static Class<?> fileSerde;
    private static Class<?> flux;

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: KestraIonReader IN.ion");
            System.exit(2);
        }
        fileSerde = Class.forName("io.kestra.core.serializers.FileSerde");
        flux = Class.forName("reactor.core.publisher.Flux");
        File file = new File(args[0]);

        Map<String, List<String>> readings = new LinkedHashMap<>();
        List<String> report = new ArrayList<>();
        boolean faulty = false;
        for (Map.Entry<String, ReadingMethod> method : readingMethods().entrySet()) {
            try {
                List<String> rows = new ArrayList<>();
                for (Object row : method.getValue().read(file)) {
                    rows.add(describe(row));
                }
                readings.put(method.getKey(), rows);
                report.add("path " + method.getKey() + " " + rows.size());
            } catch (Exception exc) {
                Throwable cause = exc instanceof InvocationTargetException ? exc.getCause() : exc;
                report.add("path " + method.getKey() + " failed: " + quote(String.valueOf(cause)));
                faulty = true;
            }
        }
        if (readings.isEmpty()) {
            report.add("difference: no reading method of FileSerde read the file");
            faulty = true;
        }
        List<String> reference = readings.isEmpty() ? new ArrayList<>() : readings.values().iterator().next();
        for (String row : reference) {
            report.add("row " + row);
        }
        String referenceName = readings.isEmpty() ? "" : readings.keySet().iterator().next();
        for (Map.Entry<String, List<String>> reading : readings.entrySet()) {
            List<String> rows = reading.getValue();
            int shown = 0;
            for (int index = 0; index < Math.max(rows.size(), reference.size()) && shown < DIFFERENCES_SHOWN; index++) {
                String found = index < rows.size() ? rows.get(index) : "(no row)";
                String wanted = index < reference.size() ? reference.get(index) : "(no row)";
                if (!found.equals(wanted)) {
                    report.add("difference " + reading.getKey() + " row " + (index + 1) + ": " + found
                        + " | " + referenceName + ": " + wanted);
                    shown++;
                    faulty = true;
                }
            }
        }
        for (String line : report) {
            System.out.println(line);
        }
        System.out.flush();
        System.exit(faulty ? 3 : 0);
    }

    // The reading methods ---------------------------------------------------------------

    /** Each method this FileSerde has, by the name of its signature; the streaming one first. */
    private static Map<String, ReadingMethod> readingMethods() {
        Map<String, ReadingMethod> methods = new LinkedHashMap<>();
        Method readAllReader = find("readAll", Reader.class);
        if (readAllReader != null) {
            methods.put("readAll(Reader)", file -> {
                try (Reader reader = bufferedReader(file)) {
                    return collect(readAllReader.invoke(null, reader));
                }
            });
        }
        Method readAllStream = find("readAll", InputStream.class);
        if (readAllStream != null) {
            methods.put("readAll(InputStream)", file -> {
                try (InputStream in = new FileInputStream(file)) {
                    return collect(readAllStream.invoke(null, in));
                }
            });
        }
        Method read = find("read", InputStream.class, Consumer.class);
        if (read != null) {
            methods.put("read(InputStream,Consumer)", file -> {
                List<Object> rows = new ArrayList<>();
                try (InputStream in = new FileInputStream(file)) {
                    read.invoke(null, in, (Consumer<Object>) rows::add);
                }
                return rows;
            });
        }
        Method readSome = find("read", InputStream.class, int.class, Consumer.class);
        if (readSome != null) {
            methods.put("read(InputStream,int,Consumer)", file -> {
                List<Object> rows = new ArrayList<>();
                try (InputStream in = new FileInputStream(file)) {
                    Object more = readSome.invoke(null, in, Integer.MAX_VALUE, (Consumer<Object>) rows::add);
                    if (Boolean.TRUE.equals(more)) {
                        throw new IllegalStateException("says rows are left after " + rows.size());
                    }
                }
                return rows;
            });
        }
        Method lines = find("reader", BufferedReader.class, Consumer.class);
        if (lines != null) {
            methods.put("reader(BufferedReader,Consumer)", file -> {
                List<Object> rows = new ArrayList<>();
                try (BufferedReader reader = bufferedReader(file)) {
                    lines.invoke(null, reader, (Consumer<Object>) rows::add);
                }
                return rows;
            });
        }
        Method someLines = find("reader", BufferedReader.class, int.class, Consumer.class);
        if (someLines != null) {
            methods.put("reader(BufferedReader,int,Consumer)", file -> {
                List<Object> rows = new ArrayList<>();
                try (BufferedReader reader = bufferedReader(file)) {
                    Object more = someLines.invoke(null, reader, Integer.MAX_VALUE, (Consumer<Object>) rows::add);
                    if (Boolean.TRUE.equals(more)) {
                        throw new IllegalStateException("says rows are left after " + rows.size());
                    }
                }
                return rows;
            });
        }
        // Kestra 1.x's tasks: Flux.create(FileSerde.reader(bufferedReader)).
        Method sink = find("reader", BufferedReader.class);
        Method create = sink == null ? null : method(flux, "create", Consumer.class);
        if (create != null) {
            methods.put("Flux.create(reader(BufferedReader))", file -> {
                try (BufferedReader reader = bufferedReader(file)) {
                    return collect(create.invoke(null, sink.invoke(null, reader)));
                }
            });
        }
        return methods;
    }

    // As Kestra's tasks open a stored file, in UTF-8 (Java's default since 18) whatever the
    // machine's locale.
    private static BufferedReader bufferedReader(File file) throws Exception {
        return new BufferedReader(new InputStreamReader(new FileInputStream(file), StandardCharsets.UTF_8), 32768);
    }

    private static Method find(String name, Class<?>... parameters) {
        return method(fileSerde, name, parameters);
    }

    private static Method method(Class<?> owner, String name, Class<?>... parameters) {
        try {
            return owner.getMethod(name, parameters);
        } catch (NoSuchMethodException absent) {
            return null;
        }
    }

    // A Flux's items, in order (blocking until it completes).
    private static List<Object> collect(Object items) throws Exception {
        List<Object> rows = new ArrayList<>();
        for (Object row : (Iterable<?>) flux.getMethod("toIterable").invoke(items)) {
            rows.add(row);
        }
        return rows;
    }

    // Exact descriptions ------------------------------------------------------------------

    private static String describe(Object value) {
        if (value == null) {
            return "null";
        }
        String type = value.getClass().getSimpleName();
        if (value instanceof String) {
            return type + " " + quote((String) value);
        }
        if (value instanceof Double) {
            return type + String.format(" 0x%016x", Double.doubleToRawLongBits((Double) value));
        }
        if (value instanceof Float) {
            return type + String.format(" 0x%08x", Float.floatToRawIntBits((Float) value));
        }
        if (value instanceof BigDecimal) {
            BigDecimal decimal = (BigDecimal) value;
            return type + " " + decimal.unscaledValue() + " scale " + decimal.scale();
        }
        if (value instanceof byte[]) {
            StringBuilder hex = new StringBuilder(type + " [");
            for (byte item : (byte[]) value) {
                hex.append(String.format("%02x", item & 0xff));
            }
            return hex.append(']').toString();
        }
        if (value instanceof Map) {
            StringBuilder map = new StringBuilder(type + " {");
            String separator = "";
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                Object key = entry.getKey();
                map.append(separator).append(key instanceof String ? quote((String) key) : describe(key))
                    .append(": ").append(describe(entry.getValue()));
                separator = ", ";
            }
            return map.append('}').toString();
        }
        if (value instanceof List) {
            StringBuilder list = new StringBuilder(type + " [");
            String separator = "";
            for (Object item : (List<?>) value) {
                list.append(separator).append(describe(item));
                separator = ", ";
            }
            return list.append(']').toString();
        }
        if (value instanceof Number || value instanceof Boolean || value instanceof TemporalAccessor) {
            return type + " " + quoteIfNeeded(value.toString());
        }
        return value.getClass().getName() + " " + quote(String.valueOf(value));
    }

    // toString as it is when it is printable ASCII without quotes or spaces, else quoted.
    private static String quoteIfNeeded(String text) {
        for (int index = 0; index < text.length(); index++) {
            char character = text.charAt(index);
            if (character <= 0x20 || character >= 0x7f || character == '"' || character == '\\') {
                return quote(text);
            }
        }
        return text;
    }

    private static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        text.codePoints().forEach(codePoint -> {
            if (codePoint == '"' || codePoint == '\\') {
                out.append('\\').append((char) codePoint);
            } else if (codePoint >= 0x20 && codePoint < 0x7f) {
                out.append((char) codePoint);
            } else {
                out.append("\\u{").append(Integer.toHexString(codePoint)).append('}');
            }
        });
        return out.append('"').toString();
    }
}
