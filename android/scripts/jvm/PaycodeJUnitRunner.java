// Tiny JUnit 4 launcher used by run-jvm-tests.sh.
//
// Usage: java -cp <junit + test classes + deps> PaycodeJUnitRunner <test-classes-dir> [FQN...]
// Without FQNs it discovers every public, non-abstract class under <test-classes-dir> that has
// a @org.junit.Test method (own or inherited) or a @RunWith annotation, and runs them all with
// org.junit.runner.JUnitCore and JUnit's TextListener (which prints "OK (N tests)" or
// "FAILURES!!!  Tests run: N,  Failures: M"). It then prints, alone on a line:
//   N passed, M failed[, K skipped]
// Exit status: 0 if every test passed, 1 on any failure or when no test was found.

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.Test;
import org.junit.internal.TextListener;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.RunWith;

public final class PaycodeJUnitRunner {
  private PaycodeJUnitRunner() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: PaycodeJUnitRunner <test-classes-dir> [FQN...]");
      System.exit(2);
    }
    Path root = Paths.get(args[0]);
    ClassLoader loader = PaycodeJUnitRunner.class.getClassLoader();
    List<Class<?>> classes = new ArrayList<>();
    if (args.length > 1) {
      for (int i = 1; i < args.length; i++) {
        classes.add(Class.forName(args[i], false, loader));
      }
    } else {
      for (String name : classNames(root)) {
        Class<?> c;
        try {
          c = Class.forName(name, false, loader);
        } catch (Throwable t) {
          continue; // e.g. a Kotlin file facade referring to something missing at run time
        }
        if (isTestClass(c)) {
          classes.add(c);
        }
      }
    }
    if (classes.isEmpty()) {
      System.out.println("No JUnit test classes found under " + root);
      System.out.println("0 passed, 0 failed");
      System.exit(1);
    }
    System.out.println(
        "Running "
            + classes.size()
            + " test class(es): "
            + classes.stream().map(Class::getName).collect(Collectors.joining(", ")));
    JUnitCore core = new JUnitCore();
    core.addListener(new TextListener(System.out));
    Result r = core.run(classes.toArray(new Class<?>[0]));
    int failed = r.getFailureCount();
    int assumptionFailures = r.getAssumptionFailureCount();
    int skipped = r.getIgnoreCount() + assumptionFailures;
    int passed = r.getRunCount() - failed - assumptionFailures;
    System.out.flush();
    System.out.println(
        passed + " passed, " + failed + " failed" + (skipped > 0 ? ", " + skipped + " skipped" : ""));
    System.out.flush();
    System.exit(failed == 0 && r.getRunCount() > 0 ? 0 : 1);
  }

  private static List<String> classNames(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(p -> p.toString().endsWith(".class"))
          .map(p -> root.relativize(p).toString())
          .filter(n -> !n.contains("$") && !n.startsWith("META-INF"))
          .map(n -> n.substring(0, n.length() - ".class".length()).replace('/', '.').replace('\\', '.'))
          .sorted()
          .collect(Collectors.toList());
    }
  }

  private static boolean isTestClass(Class<?> c) {
    int m = c.getModifiers();
    if (!Modifier.isPublic(m) || Modifier.isAbstract(m) || c.isInterface()) {
      return false;
    }
    try {
      if (c.isAnnotationPresent(RunWith.class)) {
        return true;
      }
      for (Method method : c.getMethods()) {
        if (method.isAnnotationPresent(Test.class)) {
          return true;
        }
      }
    } catch (Throwable t) {
      return false;
    }
    return false;
  }
}
